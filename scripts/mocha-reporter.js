'use strict';
// Mocha's spec output for people, plus the pass/fail counts in $MOCHA_JSON for .ci/run's summary line.
const fs = require('node:fs');
const Mocha = require('mocha');

class SpecWithCounts extends Mocha.reporters.Spec {
  constructor(runner, options) {
    super(runner, options);
    runner.once(Mocha.Runner.constants.EVENT_RUN_END, () => {
      const file = process.env.MOCHA_JSON;
      if (!file) return;
      const stats = runner.stats || {};
      fs.writeFileSync(file, JSON.stringify({ stats: { passes: stats.passes || 0, failures: stats.failures || 0, pending: stats.pending || 0 } }));
    });
  }
}
module.exports = SpecWithCounts;
