# An endpoint serves a model block of this project (a reference, not a literal), and a model's
# source is written in the configuration, not computed (configuration expressions).
package main

import rego.v1

deny_model_reference contains {"msg": sprintf("%s must serve a model block (model = model.NAME)", [r.address]), "address": r.address} if {
	some r in input.configuration.root_module.resources
	r.type == "endpoint"
	not startswith(r.expressions.model.references[0], "model.")
}

warn contains sprintf("%s reads its source from %s; check the value in the review", [r.address, ref]) if {
	some r in input.configuration.root_module.resources
	r.type == "model"
	ref := r.expressions.source.references[0]
}
