// Package quote is the one place that decides how desksync prints a string it does not
// control: an address, a filename or a MIME type from a manifest, a state, a saved plan or a
// lock file, and any text a server sends. Such a string comes from a pull request, a
// hand-edited file or a hostile endpoint, and printed as it is it could move or clear a
// reviewer's terminal (ESC and other control characters), reorder what a reader sees (bidi
// overrides), forge a line of the log (a newline), or be run by the CI system as a command
// (GitHub Actions reads "::error …::" at the start of a line and "##[…]" anywhere in one).
//
// [Text] quotes a string printed inside a line of text, [Line] makes a whole line safe,
// [Lines] does so line by line for a message of several lines, [Shell] quotes a word of a
// command the user is told to run, and [Code] and [HTMLCode] put a string into markdown
// so that it renders inert. [Unsafe] and [IsControl] are the predicates the rest of desksync
// uses to refuse a character rather than print it.
//
// Where to start: [Text] for a value inside a line, [Line] for a composed line. What it leaves
// to others: deciding what a name may hold is the manifest's (it asks [IsControl]); JSON
// documents are encoded by their owners and passed through [JSON] last.
package quote
