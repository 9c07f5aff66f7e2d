package main

// schemaURL is where the manifest's JSON Schema is published: the file
// desksync.schema.json at the root of the repository, kept equal to the output of
// "desksync schema" by TestSchemaFileCurrent. init writes it into the manifest's
// yaml-language-server line.
const schemaURL = "https://raw.githubusercontent.com/desksync/desksync/main/desksync.schema.json"
