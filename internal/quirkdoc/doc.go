// Package quirkdoc holds no code, only a test: it keeps docs/QUIRKS.md, the
// catalogue of router behaviours, honest. Every row of that table names the
// tests that emulate its behaviour, and TestCatalogueNamesRealTests fails when
// a named test does not exist, so a renamed or deleted test cannot leave the
// catalogue pointing at nothing. Rows still waiting for a test (PENDING or
// MISSING) fail it too, on purpose: the catalogue promises a test per row.
package quirkdoc
