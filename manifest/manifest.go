package manifest

// DefaultStateFile is the state path used when the manifest names none.
const DefaultStateFile = "desksync.state.json"

// Manifest is a loaded, validated desksync.yaml with every glob expanded.
type Manifest struct {
	// Path is the manifest file as the user named it; error positions use it.
	Path string
	// Root is the absolute, symlink-free folder holding the manifest; every address is
	// relative to it.
	Root string
	// StatePath is the absolute path of the state file (the manifest's `state:` or the
	// default, relative to Root).
	StatePath string
	// Entries has one entry per address, sorted by address.
	Entries []Entry
}

// Entry is one attachment the manifest asks for.
type Entry struct {
	// Address is the cleaned '/'-separated path relative to Root, e.g. images/logo.png.
	Address string
	// Resolved is Address with every symlink resolved, still relative to Root; files
	// are opened through it (see Manifest.Open) so a link can never lead outside Root.
	Resolved    string
	Filename    string
	Disposition string
	Type        string
	MimeType    string
	// Pos is where the entry (or the glob that produced it) stands in the manifest.
	Pos Position
}

// Position is a place in the manifest file.
type Position struct {
	File   string
	Line   int
	Column int
}
