import assert from 'node:assert/strict';
import bcrypt from 'bcryptjs';
import { buildSettings } from '../../../runtime/settings-builder';
import { tempDir } from '../../support/tmp';

describe('runtime settings security defaults', () => {
  let tmp: ReturnType<typeof tempDir>;
  beforeEach(() => {
    tmp = tempDir();
  });
  afterEach(() => tmp.cleanup());

  it('refuses to expose an editor without login on a non-loopback address', () => {
    assert.throws(() => buildSettings({ FABRIC_USER_DIR: tmp.dir, FABRIC_HOST: '0.0.0.0', FABRIC_CREDENTIAL_SECRET: 'x' }), /refusing to start.*FABRIC_ADMIN_PASSWORD_HASH/);
  });

  it('requires login with the bcrypt hash from the environment, and never holds the password itself', () => {
    const hash = bcrypt.hashSync('correct horse', 4);
    const settings = buildSettings({ FABRIC_USER_DIR: tmp.dir, FABRIC_HOST: '0.0.0.0', FABRIC_ADMIN_USER: 'ops', FABRIC_ADMIN_PASSWORD_HASH: hash, FABRIC_CREDENTIAL_SECRET: 'x' });
    assert.equal(settings.adminAuth.users[0].username, 'ops');
    assert.equal(settings.adminAuth.users[0].password, hash);
    assert.ok(!JSON.stringify(settings).includes('correct horse'));
  });

  it('refuses a plain password where the hash belongs', () => {
    assert.throws(() => buildSettings({ FABRIC_USER_DIR: tmp.dir, FABRIC_ADMIN_PASSWORD_HASH: 'hunter2', FABRIC_CREDENTIAL_SECRET: 'x' }), /not a bcrypt hash/);
  });

  it('keeps palette installs, external modules and update prompts off by default', () => {
    const settings = buildSettings({ FABRIC_USER_DIR: tmp.dir, FABRIC_CREDENTIAL_SECRET: 'x' });
    assert.equal(settings.externalModules.palette.allowInstall, false);
    assert.equal(settings.functionExternalModules, false);
    assert.equal(settings.telemetry.updateNotification, false);
    assert.equal(settings.editorTheme.page.title, 'PS Fabric');
    assert.equal(settings.adminAuth, undefined);
  });
});
