# A builtin policy of the e2e tests' policy function: compiled into it at build time
# (EDGEWARD_POLICY_DIR=tests/e2e/policies, set by the harness and scripts/test), named by
# `policy_builtin: "rbac"`. Scope-based grants from this directory's data.json.
package builtin.rbac

import rego.v1

http := input.attributes.request.http

scopes := split(object.get(input.token.claims, "scope", ""), " ")

grants contains scope if {
	some scope in scopes
	some grant in data.rbac.grants[scope]
	grant.method == http.method
	grant.resource == input.parsed_path[1]
}

default decision := {"allowed": false, "body": "no grant for this request"}

decision := {"allowed": true, "headers": {"x-policy-grants": concat(",", sort(grants))}} if count(grants) > 0
