# Role by path and method from the verified token's claims (the tutorial's JWT variant reads the
# user and the HR flag from the token; here the gateway has verified it): readers GET, writers
# POST/PUT/DELETE below /orders, admins anything below /admin; a reason on deny.
package claims.authz

import rego.v1

roles := object.get(input.token.claims, "roles", [])

method := input.attributes.request.http.method

default allow := false

allow if {
	input.parsed_path[0] == "orders"
	method == "GET"
	"reader" in roles
}

allow if {
	input.parsed_path[0] == "orders"
	method in {"POST", "PUT", "DELETE"}
	"writer" in roles
}

allow if {
	input.parsed_path[0] == "admin"
	"admin" in roles
	input.token.binding == "dpop"
}

decision := {"allowed": true, "headers": {"x-roles": concat(",", sort(roles))}} if allow

decision := {"allowed": false, "body": sprintf("%s %s is not allowed for roles %v", [method, input.attributes.request.http.path, roles])} if not allow
