# No model or endpoint is destroyed (or replaced: its old object is destroyed) without a review.
package main

import rego.v1

deny contains {"msg": sprintf("%s would be destroyed", [rc.address]), "address": rc.address} if {
	some rc in input.resource_changes
	rc.type in {"model", "endpoint"}
	"delete" in rc.change.actions
}
