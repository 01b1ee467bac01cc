/**
 * Node type -> the settings a template gives it. Filled from each node's config interface (nodes/<name>/), so a
 * builder that names a setting the node does not read, or gives it the wrong type, does not compile.
 */
export interface TemplateNodeConfigs {}
