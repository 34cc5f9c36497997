// A Patreon webhook receiver. hmac-watchdog has verified X-Patreon-Signature against the
// webhook-secret before this runs: a forged delivery never gets here, so the payload can be
// trusted as Patreon's.
'use strict';

module.exports = async (event, context) => {
  const trigger = event.headers['x-patreon-event'] || '';
  const payload = event.json() || {};
  const member = (payload.data && payload.data.attributes) || {};
  console.error(`patreon-receiver: ${trigger} verified=${event.verifiedBy}`);

  switch (trigger) {
    case 'members:pledge:create':
    case 'members:create':
      return `new patron: ${member.full_name} (${member.patron_status})\n`;
    case 'members:pledge:update':
    case 'members:update':
      return `patron updated: ${member.full_name} (${member.patron_status})\n`;
    case 'members:pledge:delete':
    case 'members:delete':
      return `patron left: ${member.full_name}\n`;
    default:
      // Answer 2xx to triggers this receiver does not handle, or Patreon retries them.
      return { statusCode: 202, body: `ignored trigger ${trigger || '(none)'}\n` };
  }
};
