# The policy of OPA's "HTTP APIs" tutorial (openpolicyagent.org/docs/http-api-authorization):
# people can see their own salaries, managers their direct reports' (bob is alice's manager, betty is
# charlie's), and HR (david) everybody's. Written against edgeward's input document: the user is the
# verified `sub`, the path is `parsed_path`, the method is OPA-Envoy's.
package httpapi.authz

import rego.v1

subordinates := {"alice": [], "charlie": [], "bob": ["alice"], "betty": ["charlie"]}

hr := ["david"]

user := input.token.claims.sub

method := input.attributes.request.http.method

default allow := false

# Allow users to get their own salaries.
allow if {
	method == "GET"
	input.parsed_path == ["finance", "salary", user]
}

# Allow managers to get their subordinates' salaries.
allow if {
	some username
	method == "GET"
	input.parsed_path = ["finance", "salary", username]
	subordinates[user][_] == username
}

# Allow HR members to get anyone's salary.
allow if {
	method == "GET"
	input.parsed_path = ["finance", "salary", _]
	user in hr
}
