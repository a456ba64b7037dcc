# The benchmarks' small RBAC policy (scripts/bench, scenarios R.web, S.R and D.web): roles from the
# token's scopes, permissions per role from `data` (inlined here so the remote test decision point and
# the embedded engine evaluate the same thing), allow when a role grants the method on the path's
# first segment. Written against edgeward's OPA-Envoy-shaped input.
package bench.rbac

import rego.v1

grants := {
	"orders:read": [{"method": "GET", "resource": "orders"}],
	"orders:write": [{"method": "POST", "resource": "orders"}, {"method": "PUT", "resource": "orders"}],
	"admin": [{"method": "DELETE", "resource": "orders"}],
}

scopes := split(object.get(input.token.claims, "scope", ""), " ")

resource := input.parsed_path[1]

default allow := false

allow if {
	some scope in scopes
	some grant in grants[scope]
	grant.method == input.attributes.request.http.method
	grant.resource == resource
}
