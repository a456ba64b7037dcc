# Time of day, after OPA's business-hours example (`time.clock` of the request time against opening
# hours), in UTC: the policy function has no time-zone database. Reads at any time; writes on
# business days (not Saturday or Sunday, not 25 December) from 09:00 to 17:59 UTC. The time is
# the request's (`time.now_ns()`), read once by the gateway.
package timeofday.authz

import rego.v1

now := time.now_ns()

clock := time.clock([now, "UTC"])

weekend if time.weekday(now) in {"Saturday", "Sunday"}

holiday if {
	[_, month, day] := time.date(now)
	[month, day] == [12, 25]
}

business_hours if {
	clock[0] >= 9
	clock[0] < 18
	not weekend
	not holiday
}

default allow := false

allow if input.attributes.request.http.method == "GET"

allow if business_hours

decision := {"allowed": true, "headers": {"x-time": sprintf("%s %02d:%02d", [time.weekday(now), clock[0], clock[1]])}} if allow

decision := {"allowed": false, "body": "writes only on business days, 09:00-18:00 UTC"} if not allow
