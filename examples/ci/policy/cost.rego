# An endpoint above the hourly cost ceiling needs a finance review: soft-mandatory, so a
# reviewer can let it through with --override-policy cost_ceiling --reason "...".
package main

import rego.v1

ceiling_per_hour := 5

deny_cost contains {
	"msg": sprintf("%s is estimated at $%.2f/h, above the $%d/h ceiling", [addr, est.cost_per_hour, ceiling_per_hour]),
	"address": addr,
	"policy": "cost_ceiling",
	"enforcement": "soft_mandatory",
} if {
	some addr, est in input.estimates
	est.cost_per_hour > ceiling_per_hour
}
