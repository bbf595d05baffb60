"""Rolling a pinned function forward to Auto behind a canary — or back, losing nothing.

The safety invariant: whatever fails, the function ends either promoted and verified, or
exactly as it was (alias 100% on the baseline version, `$LATEST` Manual on the original
runtime version ARN). rollforward never touches an alias it does not find in the state it left
it in: if a human changed the alias or the pin mid-canary, it stops and hands back.

Alias strategy (the function is invoked through an alias):
  preflight → candidate (baseline pinned explicitly; `$LATEST` FunctionUpdate + touch → newest
  runtime; publish) → weights 5% → 25% → 50%, each baked and judged on `ExecutedVersion`
  metrics → promote (alias 100% candidate; candidate and `$LATEST` Auto) → post-promotion bake.
Synthetic strategy (invoked unqualified): the candidate version is invoked with the owner's
test events; then `$LATEST` goes Auto, baked against its own earlier window.

The package reads as the canary's lifecycle: `state` (what the state machine carries),
`preflight`, `candidate`, `shifting` (alias weights), `evidence` (metrics, INIT_START),
`judging`, `synthetic`, `promote` (and verify, resolve), `rollback` (and stopped). Each step is
a function of a `CanaryContext` (the ports: `LambdaControl`, `Signals`, ledger, audit,
notifier; and the policy); `Canary` is the facade the handler calls.
"""
