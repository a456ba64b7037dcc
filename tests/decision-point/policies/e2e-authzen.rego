# The e2e tests' AuthZEN policy: the same rule as e2e.rego over an AuthZEN 1.0 Access Evaluation
# request as edgeward builds it (subject.properties carries the configured claims).
package edgeward.authzen

import rego.v1

scopes := split(object.get(input.subject.properties, "scope", ""), " ")

default decision := {"decision": false, "context": {"reason_user": {"en": "orders:read is needed"}}}

decision := {"decision": true, "context": {"headers": {"x-pdp": "authzen"}}} if {
	input.action.name == "GET"
	"orders:read" in scopes
}
