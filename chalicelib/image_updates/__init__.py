"""Image auto-update: the scheduled tick and the webhook, reading registries and rolling out
new tags through the rollout state machine (reference §5, with its weak points fixed)."""
