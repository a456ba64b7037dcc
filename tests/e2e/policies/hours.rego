# A builtin policy of the e2e tests' policy function that reads the request's time: OPA's
# `time.now_ns`, `time.clock`, `time.weekday` and `time.date`, provided by the gateway from the
# time it read once for the request (UTC; shared/src/rego.rs). Allows, and says what time it saw.
package builtin.hours

import rego.v1

now := time.now_ns()

clock := time.clock([now, "UTC"])

decision := {"allowed": true, "headers": {
	"x-policy-time": sprintf("%s %02d:%02d", [time.weekday(now), clock[0], clock[1]]),
	"x-policy-date": sprintf("%d-%02d-%02d", time.date(now)),
}}
