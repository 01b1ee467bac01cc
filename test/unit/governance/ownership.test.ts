import assert from 'node:assert/strict';
import fs from 'node:fs';
import path from 'node:path';
import { OwnershipError, ValidationError } from '../../../lib/delivery/errors';
import { DEFAULT_MATRIX_FILE, OwnershipMatrix, parseMatrix } from '../../../lib/governance/ownership';
import { tempDir } from '../../support/tmp';

const base = () => JSON.parse(fs.readFileSync(DEFAULT_MATRIX_FILE, 'utf8'));

describe('governance: ownership matrix', () => {
  it('loads the shipped default with every required entity and owner team', () => {
    const m = OwnershipMatrix.default();
    for (const e of ['Account', 'Contract', 'Project', 'ResourceAssignment', 'TimeEntry', 'Expense', 'Invoice', 'RevenueEvent']) {
      assert.ok(m.entities().includes(e), e);
      assert.ok(m.ownerTeam(e));
    }
    assert.equal(m.systemOfRecord('Account', 'legalName'), 'crm');
    assert.equal(m.systemOfRecord('account', 'paymentTermsDays'), 'erp');
    assert.equal(m.ownerTeam('Account', 'billing'), 'finance-ops');
    assert.equal(m.ownerTeam('time-entry'), 'delivery-ops');
    assert.equal(m.field('Invoice', '/lines/3/amount').group, 'invoice');
    assert.deepEqual(m.systemsFor('erp').sort(), ['businessCentral', 'legacy', 'netsuite']);
    assert.ok(m.rows().length >= 14);
  });

  it('allows writes to the system of record and to declared replicas from the owner', () => {
    const m = OwnershipMatrix.default();
    assert.deepEqual(m.checkWrite('Account', 'netsuite', ['id', 'externalIds', 'billingEntity', 'taxRegistrations', 'paymentTermsDays']), { ok: true });
    // CRM-owned name replicated into the ERP, coming from Salesforce
    assert.deepEqual(m.checkWrite('Account', 'businessCentral', ['legalName'], { sourceSystem: 'salesforce' }), { ok: true });
    assert.deepEqual(m.checkWrite('TimeEntry', 'kantata', ['status', 'invoiceId']), { ok: true });
  });

  it('refuses writes that would overwrite fields another system owns, naming field, owner system and team', () => {
    const m = OwnershipMatrix.default();
    const r = m.checkWrite('Account', 'salesforce', ['legalName', 'paymentTermsDays', 'taxRegistrations'], { sourceSystem: 'kantata' });
    assert.equal(r.ok, false);
    if (r.ok) return;
    assert.ok(r.error instanceof OwnershipError);
    assert.equal(r.error.errorClass, 'ownership');
    assert.equal(r.error.retry, 'permanent');
    assert.match(r.error.message, /^write of Account to salesforce from kantata refused/);
    assert.match(r.error.message, /paymentTermsDays is owned by erp \(owner team finance-ops\)/);
    assert.match(r.error.message, /taxRegistrations is owned by erp/);
    assert.doesNotMatch(r.error.message, /legalName/);
    assert.deepEqual(r.error.details?.map((d) => d.path), ['/paymentTermsDays', '/taxRegistrations']);
    assert.deepEqual(r.refused.map((x) => x.ownerTeam), ['finance-ops', 'finance-ops']);
    // replica written from a system that is not the owner
    const r2 = m.checkWrite('Account', 'netsuite', ['legalName'], { sourceSystem: 'kantata' });
    assert.equal(r2.ok, false);
    if (!r2.ok) assert.match(r2.error.message, /legalName is owned by crm \(owner team sales-ops\)/);
    // Jira is not a replica of invoices at all
    assert.throws(() => m.assertWrite('Invoice', 'jira', ['total']), (e: unknown) => e instanceof OwnershipError && /total is owned by erp/.test((e as Error).message));
  });

  it('reports schema errors with paths', () => {
    const bad = base();
    delete bad.teams;
    bad.entities.Account.fieldGroups[0].latency = 'hourly';
    assert.throws(
      () => new OwnershipMatrix(bad),
      (e: unknown) => e instanceof ValidationError && /\/teams is required/.test(e.message) && /\/entities\/Account\/fieldGroups\/0\/latency/.test(e.message),
    );
  });

  it('reports cross-reference errors: unknown system, unknown team, field owned twice', () => {
    const bad = base();
    bad.entities.Account.fieldGroups[0].systemOfRecord = 'hubspot';
    bad.entities.Project.fieldGroups[1].ownerTeam = 'nobody';
    bad.entities.Invoice.fieldGroups.push({ ...bad.entities.Invoice.fieldGroups[0], name: 'copy', fields: ['total'] });
    try {
      new OwnershipMatrix(bad);
      assert.fail('should throw');
    } catch (e) {
      assert.ok(e instanceof ValidationError);
      const paths = (e.details ?? []).map((d) => d.path);
      assert.ok(paths.includes('/entities/Account/fieldGroups/0/systemOfRecord'), paths.join());
      assert.ok(paths.includes('/entities/Project/fieldGroups/1/ownerTeam'));
      assert.ok(paths.includes('/entities/Invoice/fieldGroups/1/fields/0'));
      assert.match(e.message, /unknown system or role "hubspot"/);
      assert.match(e.message, /already owned by group "invoice"/);
    }
  });

  it('reports JSON syntax errors from edited text and reads a matrix from a file', () => {
    assert.throws(() => parseMatrix('{ "version": 1, '), /not valid JSON/);
    const t = tempDir();
    try {
      const file = path.join(t.dir, 'm.json');
      const data = base();
      data.entities.Account.fieldGroups[1].ownerTeam = 'sales-ops';
      fs.writeFileSync(file, JSON.stringify(data));
      assert.equal(OwnershipMatrix.fromFile(file).ownerTeam('Account', 'billing'), 'sales-ops');
    } finally {
      t.cleanup();
    }
  });

  it('answers clearly for an unknown entity or field group', () => {
    const m = OwnershipMatrix.default();
    assert.throws(() => m.ownerTeam('Widget'), /no entity "Widget"/);
    assert.throws(() => m.ownerTeam('Account', 'nope'), /no field group "nope"/);
  });
});
