"""hub_webhooks_out: the hub's events sent to any tool a branch runs (a CRM, n8n, Zapier, an in-house system) as
Standard Webhooks (https://www.standardwebhooks.com), signed, retried, logged per endpoint
(docs/webhooks-out.md)."""
