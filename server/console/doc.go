// Package console is Sextant's web console: server-rendered pages over the
// data the delivery server already keeps — models and versions with their
// lineage and privacy cost, rollouts with their stage timeline and the
// evidence of each transition, experiments, federated tasks and the
// fleet's version mix — behind the admin tokens.
//
// The pages are html/template with SVG charts drawn here (svg.go); the one
// script (static/console.js, the package's own) refreshes the page's main
// section when the server-sent event stream /console/events says something
// changed. The server mounts Handler under /console/ and fills Source from
// the same calls its admin API answers with, so every number a page shows
// is the admin API's number for the same data.
//
// Sign-in takes an admin token (any scope that may read) and sets a
// session cookie (HttpOnly, Secure, SameSite=Strict); the session is
// checked against the token store on every request, so revoking the token
// ends it. Pages are read-only; the only state-changing requests are the
// sign-in and sign-out forms, which also check the Origin header.
package console
