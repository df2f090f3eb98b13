# A policy set shared by a team's ML projects. A project lists it in
#   mlform { policy_paths = ["../ci/policies"] }
# and its plans are then checked against these policies like its own.
# `mlform policy test` runs the fixtures in tests/ (plans and the outcome
# expected of each policy); see docs/policies.md.

policy "models_have_an_owner" {
  enforcement = "soft_mandatory"
  applies_to  = "model"
  condition   = change.actions == ["delete"] ? true : try(change.after.metadata.owner, "") != ""
  message     = "every model names its owner in metadata.owner"
}

policy "endpoints_roll_out_gradually" {
  enforcement = "hard_mandatory"
  applies_to  = "endpoint"
  condition   = change.actions == ["delete"] ? true : change.after.rollout != null
  message     = "an endpoint changes through a rollout block (a canary, or blue/green)"
}

policy "latency_budget" {
  applies_to = "endpoint"
  condition  = change.actions == ["delete"] ? true : coalesce(change.after.estimated_p99_ms, 0) <= 100
  message    = "the estimated p99 latency is above 100 ms"
}
