/** The process layer's core (docs/templates.md): plain TypeScript behind the flow templates in flows/. */
export * as common from './common';
export * as quoteToProject from './quote-to-project';
export * as timeToCash from './time-to-cash';
export * as changeOrder from './change-order';
export * as reporting from './reporting';
export * as kpi from './kpi';
export * as steps from './steps';
