/**
 * `process-step`: one step of a PS Fabric process template that needs the process core and no generic node fits.
 * The step is chosen in the dialog; what each step reads, sends and records is in lib/processes/steps (one function
 * per step). This node only dispatches: config -> StepSettings, msg -> the step, its outputs -> send, its errors ->
 * done (so a Catch node sees them), and for co-plan the retry of parked amendments while the node runs.
 */
import { businessAttributes, markSpan, withSpan } from '../../lib/telemetry';
import { correlationIdOf } from '../../lib/model/envelope';
import { installTraceHooks } from '../trace-hooks';
import { errorMessage, registerNode, resolveStore as storeNode, type Node, type NodeAPI } from '../node-red-api';
import { ParkedAmendmentRetry, StepInputError, stepNamed, stepSettings, type Step, type StepContext, type StepMsg, type StepSettings } from '../../lib/processes/steps';
import { PROCESS_STEP, type ProcessStepConfig } from './config';

export = function (RED: NodeAPI) {
  const t = (key: string, subs?: Record<string, unknown>) => RED._(`process-step.${key}`, subs);
  /** A StepInputError in the words of the node's catalog; any other error as it is. */
  const described = (err: unknown): Error => (err instanceof StepInputError ? new Error(t(`errors.${err.key}`, err.subs)) : err instanceof Error ? err : new Error(String(err)));
  installTraceHooks(RED);

  function ProcessStep(this: Node, config: ProcessStepConfig) {
    RED.nodes.createNode(this, config);
    const node = this;
    const storeCfg = storeNode(RED, config.store);
    let settings: StepSettings | undefined;
    let step: Step | undefined;
    let configError: string | undefined;
    try {
      step = stepNamed(config.step);
      settings = stepSettings(config);
    } catch (err) {
      configError = described(err).message;
    }
    if (!storeCfg) configError = t('errors.noStore');
    if (configError) node.status({ fill: 'red', shape: 'ring', text: configError });
    else storeCfg!.register(node);
    const context = (): StepContext => ({ services: storeCfg!.requireServices(), settings: settings!, actor: `node:${node.id}` });
    let count = 0;

    const retry = config.step === 'co-plan' && !configError ? new ParkedAmendmentRetry(context, (out) => node.send(out as never), settings!.retrySeconds) : undefined;
    retry?.start((err) => node.warn(t('errors.retryFailed', { error: errorMessage(err) })));

    node.on('input', (msg, send, done) => {
      if (configError) {
        done(new Error(configError));
        return;
      }
      // one span per step, in the trace of the msg (nodes/trace-hooks.ts); what it sends continues from this span
      withSpan(`process-step ${config.step}`, {}, async (span) => {
        const m = msg as StepMsg;
        const result = await step!(m, context());
        span?.setAttributes(businessAttributes({ recordKey: m.recordKey, correlationId: correlationIdOf(m), process: m.process, step: config.step }));
        if (span && result.records) for (const r of result.records()) markSpan(`record ${r.recordKey}`, { attributes: businessAttributes({ correlationId: correlationIdOf(m), step: config.step, ...r }) });
        count += 1;
        node.status({ fill: 'green', shape: 'dot', text: result.status ? t(`status.${result.status.key}`, result.status.subs) : t('status.done', { count }) });
        send(result.out as never);
      }).then(
        () => done(),
        (err: unknown) => {
          const e = described(err);
          node.status({ fill: 'red', shape: 'ring', text: e.message.slice(0, 60) });
          done(e);
        },
      );
    });

    node.on('close', (_removed, done) => {
      retry?.stop();
      storeCfg?.deregister(node);
      done();
    });
  }

  registerNode(RED, PROCESS_STEP.type, ProcessStep, PROCESS_STEP);
};
