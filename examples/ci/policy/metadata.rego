# Every model says who owns it: metadata.owner and metadata.team, as it will be after apply.
package main

import rego.v1

required_keys := {"owner", "team"}

deny_metadata contains {"msg": sprintf("%s has no metadata.%s", [r.address, key]), "address": r.address} if {
	some r in input.planned_values.root_module.resources
	r.type == "model"
	some key in required_keys
	not r.values.metadata[key]
}
