# The e2e tests' policy (tests/e2e/authorize.test.mjs), for tokens of the test authorization server
# (scripts/lib/auth-server.mjs: client-credentials JWTs with `scope` and `client_id`). Written
# against the OPA-Envoy-shaped input document of edgeward's authorize stage.
package edgeward.authz

import rego.v1

http := input.attributes.request.http

scopes := split(object.get(input.token.claims, "scope", ""), " ")

default allow := false

allow if {
	http.method == "GET"
	"orders:read" in scopes
	not "secret" in input.parsed_path
}

allow if {
	http.method in {"POST", "PUT", "DELETE"}
	"orders:write" in scopes
	not "secret" in input.parsed_path
}

tier := "writer" if "orders:write" in scopes

else := "reader"

decision := {"allowed": true, "headers": {
	"x-policy-tier": tier,
	"x-policy-client": input.token.claims.client_id,
	"x-policy-tenant": object.get(http.headers, "x-tenant", "none"),
}} if allow

decision := {"allowed": false, "body": "this client may not do that to orders"} if not allow
