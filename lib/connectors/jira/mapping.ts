/**
 * Jira custom fields PS Fabric writes, as settings of the jira-config node. Custom field ids differ per site
 * (`customfield_<n>`), so none is a constant: Epic Name is the configured id, or found on the Epic create screen.
 */

/** The Epic Name setting: empty (find Epic Name on each project's Epic create screen) or a custom field id. Throws naming the setting. */
export function checkEpicNameField(value: unknown): string | undefined {
  if (value === undefined || value === null || value === '') return undefined;
  if (typeof value !== 'string' || !/^customfield_\d+$/.test(value.trim())) {
    throw new Error(`the Jira Epic Name field setting is ${JSON.stringify(value)}: expected a custom field id such as customfield_10011 (Jira settings > Issues > Custom fields > Epic Name > the id in the edit link), or empty to find it on each project's Epic create screen`);
  }
  return value.trim();
}
