// Package view renders what desksync has to say: plans and apply progress.
//
// Plans: PlanDocument builds the JSON document of docs/plans.md (FormatVersion) from a
// *plan.Plan, and RenderPlan writes it as text (Terraform style, coloured only when
// PlanOptions.Color says so), JSON or markdown for a pull-request comment. Text and
// markdown are rendered from the Document, never from the plan directly, so the three
// formats cannot disagree.
//
// Apply progress: implementations of apply.Progress — plain lines (NewLines), live
// bars on a terminal (NewBars) and NDJSON events (NewNDJSON) — all safe for
// concurrent use.
//
// Views decide nothing about colour or terminals themselves and print nothing but
// what they are asked to; main picks the format and the writer.
package view
