package manifest_test

import (
	"errors"
	"path/filepath"
	"strings"
	"testing"

	"github.com/desksync/desksync/manifest"
)

const png = "\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"

func TestLoadErrors(t *testing.T) {
	const goOn = `YAML could not go on here: check the indentation of this line and the ones above it, and quote values that contain ": " or " #", or start with a quote or a bracket`
	t.Parallel()
	tests := []struct {
		name     string
		manifest string
		files    map[string]string
		opts     manifest.Options
		want     string
		hint     string // checked when not empty
	}{
		{
			name:     "malformed YAML",
			manifest: "version: 1\nattachments:\n  - path: a.png\n    filename: [x\n",
			want:     "desksync.yaml:4:16: invalid YAML: did not find expected ',' or ']'",
			hint:     goOn,
		},
		{
			name:     "over-indented key: named where it is, not at the list item above",
			manifest: "version: 1\nattachments:\n  - path: a.png\n   filename: x\n",
			want:     "desksync.yaml:4:4: invalid YAML: did not find expected '-' indicator",
			hint:     goOn,
		},
		{
			name:     "quote inside a quoted value: named at the stray character",
			manifest: "version: 1\nattachments:\n  - path: a.png\n    filename: 'it's'\n",
			want:     "desksync.yaml:4:19: invalid YAML: did not find expected key",
			hint:     goOn,
		},
		{
			name:     "unclosed quote: the column of the quote",
			manifest: "version: 1\nattachments:\n  - path: a.png\n    filename: \"x\n  - path: b.png\n",
			want:     "desksync.yaml:4:15: invalid YAML: found unexpected end of stream",
		},
		{
			name:     "character that cannot start a value: its column, in runes",
			manifest: "version: 1\nattachments:\n  - path: a.png\n    filename: ä\n    mimeType: @x\n",
			want:     "desksync.yaml:5:15: invalid YAML: found character that cannot start any token",
		},
		{
			name:     "a line too long to search keeps its line only",
			manifest: "version: 1\nattachments:\n  - path: a.png\n    filename: " + strings.Repeat("x", 300) + ": y\n",
			want:     "desksync.yaml:4: invalid YAML: mapping values are not allowed in this context",
		},
		{
			name:     "block mapping broken",
			manifest: "version: 1\nattachments:\n  - path: a.png\n - path: b.png\n",
			want:     "desksync.yaml:4:2: invalid YAML: did not find expected key",
			hint:     goOn,
		},
		{
			name:     "mapping value in plain scalar",
			manifest: "version: 1\nattachments:\n  - path: a: b\n",
			want:     "desksync.yaml:3:12: invalid YAML: mapping values are not allowed in this context",
		},
		{
			name:     "unknown anchor",
			manifest: "version: 1\nattachments:\n  - path: a.png\n    type: *nope\n",
			want:     "desksync.yaml:4:11: invalid YAML: unknown anchor 'nope' referenced",
		},
		{
			name:     "tab indentation",
			manifest: "version: 1\nattachments:\n\t- path: a.png\n",
			want:     "desksync.yaml:3:1: invalid YAML: found character that cannot start any token",
			hint:     "indent YAML with spaces, not tabs",
		},
		{
			name:     "NUL byte",
			manifest: "version: 1\nattachments: []\n# \x00\n",
			want:     "desksync.yaml:3:3: invalid YAML: control character U+0000 is not allowed",
		},
		{
			name:     "invalid UTF-8",
			manifest: "version: 1\nattachments:\n  - path: \xff.png\n",
			want:     "desksync.yaml:3:11: invalid YAML: invalid UTF-8 byte 0xff",
		},
		{
			name:     "two documents",
			manifest: "version: 1\nattachments: []\n---\nversion: 1\n",
			want:     "desksync.yaml:3:1: a manifest is one YAML document, found a second one",
			hint:     `remove the "---" separator and everything after it`,
		},
		{
			name:     "not a mapping",
			manifest: "- path: a.png\n",
			want:     "desksync.yaml:1:1: the manifest must be a mapping of keys to values, not a list",
		},
		{
			name:     "empty file",
			manifest: "",
			want:     "desksync.yaml:1:1: version: required field is missing",
			hint:     `start the manifest with "version: 1"`,
		},
		{
			name:     "unknown top-level key with suggestion",
			manifest: "version: 1\natachments: []\n",
			want:     "desksync.yaml:2:1: atachments: unknown field",
			hint:     `did you mean "attachments"?`,
		},
		{
			name:     "misspelled attachments: the typo, not a missing key",
			manifest: "version: 1\nattachment:\n  - path: a.png\n",
			want:     "desksync.yaml:2:1: attachment: unknown field",
			hint:     `did you mean "attachments"?`,
		},
		{
			name:     "misspelled path: the typo, not a missing key",
			manifest: "version: 1\nattachments:\n  - pth: a.png\n",
			want:     "desksync.yaml:3:5: attachments[0].pth: unknown field",
			hint:     `did you mean "path"?`,
		},
		{
			name:     "unquoted glob",
			manifest: "version: 1\nattachments:\n  - path: *.png\n",
			want:     "desksync.yaml:3:11: invalid YAML: did not find expected alphabetic or numeric character",
			hint:     `YAML reads a value that starts with "*" as an alias: quote the glob, e.g. path: "*.png"`,
		},
		{
			name:     "path under .git",
			manifest: "version: 1\nattachments:\n  - path: .git/config\n",
			files:    map[string]string{".git/config": "[remote]\n\ttoken = secret\n"},
			want:     `desksync.yaml:3:11: attachments[0].path: ".git/config" is under .git/, which is never uploaded`,
			hint:     ".git/ holds the checkout's credentials and .desksync/ desksync's own data; neither may be uploaded, however it is reached",
		},
		{
			name:     "path under .desksync, any case",
			manifest: "version: 1\nattachments:\n  - path: sub/../.DeskSync/sandbox/x\n",
			want:     `desksync.yaml:3:11: attachments[0].path: "sub/../.DeskSync/sandbox/x" is under .DeskSync/, which is never uploaded`,
		},
		{
			name:     "symlinked file into .git",
			manifest: "version: 1\nattachments:\n  - path: readme.txt\n",
			files:    map[string]string{".git/config": "token", "readme.txt": "link:.git/config"},
			want:     `desksync.yaml:3:11: attachments[0].path: "readme.txt" leads under .git/, which is never uploaded`,
		},
		{
			name:     "symlinked folder into .git",
			manifest: "version: 1\nattachments:\n  - path: docs/config\n",
			files:    map[string]string{".git/config": "token", "docs": "link:.git"},
			want:     `desksync.yaml:3:11: attachments[0].path: "docs/config" leads under .git/, which is never uploaded`,
		},
		{
			name:     "plain entry naming the manifest",
			manifest: "version: 1\nattachments:\n  - path: desksync.yaml\n",
			want:     `desksync.yaml:3:11: attachments[0].path: "desksync.yaml" is the manifest, which is never uploaded`,
			hint:     "desksync's own files (the manifest, the state with its backup, lock and journal, saved plans) change on every run and are never uploaded; remove the entry",
		},
		{
			name:     "plain entry naming the state's backup",
			manifest: "version: 1\nattachments:\n  - path: desksync.state.json.backup\n",
			files:    map[string]string{"desksync.state.json.backup": "{}"},
			want:     `desksync.yaml:3:11: attachments[0].path: "desksync.state.json.backup" is the state's backup, which is never uploaded`,
		},
		{
			name:     "plain entry naming the state the pipeline chose",
			manifest: "version: 1\nattachments:\n  - path: ci.state.json.journal\n",
			files:    map[string]string{"ci.state.json.journal": "{}"},
			opts:     manifest.Options{State: "@ROOT/ci.state.json"},
			want:     `desksync.yaml:3:11: attachments[0].path: "ci.state.json.journal" is the state's journal, which is never uploaded`,
		},
		{
			name:     "plain entry naming a saved plan",
			manifest: "version: 1\nattachments:\n  - path: release.plan\n",
			files:    map[string]string{"release.plan": `{"desksync_plan": 1, "changes": []}`},
			want:     `desksync.yaml:3:11: attachments[0].path: "release.plan" is a saved desksync plan, which is never uploaded`,
		},
		{
			name:     "state outside the root",
			manifest: "version: 1\nstate: ../outside/x.json\nattachments: []\n",
			want:     `desksync.yaml:2:8: state: "../outside/x.json" is outside the manifest's folder`,
			hint:     "state: must name a file inside the manifest's folder; to keep the state elsewhere, pass --state or set DESKSYNC_STATE in the pipeline",
		},
		{
			name:     "absolute state",
			manifest: "version: 1\nstate: /tmp/x.json\nattachments: []\n",
			want:     `desksync.yaml:2:8: state: "/tmp/x.json" is outside the manifest's folder`,
		},
		{
			name:     "state through a symlinked folder that leads out",
			manifest: "version: 1\nstate: out/x.json\nattachments: []\n",
			files:    map[string]string{"out": "link:@OUT"},
			want:     `desksync.yaml:2:8: state: "out/x.json" goes through symlink "out", which leads outside the manifest's folder`,
		},
		{
			name:     "state that is a symlink leading out",
			manifest: "version: 1\nstate: s.json\nattachments: []\n",
			files:    map[string]string{"s.json": "link:@OUT/s.json", "../outside/s.json": "{}"},
			want:     `desksync.yaml:2:8: state: "s.json" goes through symlink "s.json", which leads outside the manifest's folder`,
		},
		{
			name:     "state under .git",
			manifest: "version: 1\nstate: .git/hooks/x.json\nattachments: []\n",
			want:     `desksync.yaml:2:8: state: ".git/hooks/x.json" is under .git/, where the state may not be kept`,
		},
		{
			name:     "state linked into .git",
			manifest: "version: 1\nstate: g/x.json\nattachments: []\n",
			files:    map[string]string{"g": "link:.git", ".git/HEAD": "ref"},
			want:     `desksync.yaml:2:8: state: "g/x.json" leads under .git/, where the state may not be kept`,
		},
		{
			name:     "state URL of another scheme",
			manifest: "version: 1\nstate: https://x/y.json\nattachments: []\n",
			want:     `desksync.yaml:2:8: state: "https://x/y.json" is a URL; only s3:// URLs are supported`,
		},
		{
			name:     "s3 URL without a key",
			manifest: "version: 1\nstate: s3://bucket\nattachments: []\n",
			want:     `desksync.yaml:2:8: state: "s3://bucket" is not an s3://BUCKET/KEY URL`,
		},
		{
			name:     "unknown entry key with suggestion",
			manifest: "version: 1\nattachments:\n  - path: a.png\n    mimetype: image/png\n",
			files:    map[string]string{"a.png": png},
			want:     "desksync.yaml:4:5: attachments[0].mimetype: unknown field",
			hint:     `did you mean "mimeType"?`,
		},
		{
			name:     "unknown key without a close match",
			manifest: "version: 1\nattachments:\n  - path: a.png\n    colour: red\n",
			files:    map[string]string{"a.png": png},
			want:     "desksync.yaml:4:5: attachments[0].colour: unknown field",
			hint:     "known fields: path, filename, disposition, type, mimeType",
		},
		{
			name:     "filename in defaults",
			manifest: "version: 1\ndefaults:\n  filename: x.png\nattachments: []\n",
			want:     "desksync.yaml:3:3: defaults.filename: unknown field",
			hint:     "filename can only be set on each attachment",
		},
		{
			name:     "key set twice",
			manifest: "version: 1\nattachments:\n  - path: a.png\n    path: b.png\n",
			files:    map[string]string{"a.png": png, "b.png": png},
			want:     "desksync.yaml:4:5: attachments[0].path: set twice (first at line 3)",
		},
		{
			name:     "attachments is a mapping",
			manifest: "version: 1\nattachments:\n  path: a.png\n",
			want:     "desksync.yaml:3:3: attachments: must be a list, not a mapping",
		},
		{
			name:     "attachment is a string",
			manifest: "version: 1\nattachments:\n  - a.png\n",
			want:     `desksync.yaml:3:5: attachments[0]: must be a mapping of keys to values, not the string "a.png"`,
			hint:     `write each attachment as "- path: FILE"`,
		},
		{
			name:     "path is a list",
			manifest: "version: 1\nattachments:\n  - path: [a.png, b.png]\n",
			want:     "desksync.yaml:3:11: attachments[0].path: must be a single value, not a list",
		},
		{
			name:     "missing path",
			manifest: "version: 1\nattachments:\n  - filename: a.png\n",
			want:     "desksync.yaml:3:5: attachments[0].path: required field is missing",
		},
		{
			name:     "empty path",
			manifest: "version: 1\nattachments:\n  - path: \"\"\n",
			want:     "desksync.yaml:3:11: attachments[0].path: must not be empty",
		},
		{
			name:     "null path",
			manifest: "version: 1\nattachments:\n  - path:\n",
			want:     "desksync.yaml:3:10: attachments[0].path: must not be empty",
		},
		{
			name:     "version missing",
			manifest: "attachments: []\n",
			want:     "desksync.yaml:1:1: version: required field is missing",
		},
		{
			name:     "version 2",
			manifest: "version: 2\nattachments: []\n",
			want:     "desksync.yaml:1:10: version: unknown version 2",
			hint:     "this build of desksync reads only version 1; upgrade desksync or fix the number",
		},
		{
			name:     "version as a string",
			manifest: "version: \"1\"\nattachments: []\n",
			want:     `desksync.yaml:1:10: version: must be the integer 1, not the string "1"`,
		},
		{
			name:     "version huge",
			manifest: "version: 99999999999999999999999999\nattachments: []\n",
			want:     "desksync.yaml:1:10: version: must be the integer 1, not the number 99999999999999999999999999",
		},
		{
			name:     "bad disposition",
			manifest: "version: 1\nattachments:\n  - path: a.png\n    disposition: inline\n",
			files:    map[string]string{"a.png": png},
			want:     `desksync.yaml:4:18: attachments[0].disposition: "inline" is not attachment or attachment-inline`,
		},
		{
			name:     "bad disposition in defaults",
			manifest: "version: 1\ndefaults:\n  disposition: Attachment\nattachments: []\n",
			want:     `desksync.yaml:3:16: defaults.disposition: "Attachment" is not attachment or attachment-inline`,
		},
		{
			name:     "mimeType with parameters",
			manifest: "version: 1\nattachments:\n  - path: a.txt\n    mimeType: text/plain; charset=utf-8\n",
			files:    map[string]string{"a.txt": "hi"},
			want:     `desksync.yaml:4:15: attachments[0].mimeType: "text/plain; charset=utf-8" has parameters; Desk takes a bare media type`,
		},
		{
			name:     "mimeType malformed",
			manifest: "version: 1\ndefaults:\n  mimeType: png\nattachments: []\n",
			want:     `desksync.yaml:3:13: defaults.mimeType: "png" is not a media type such as image/png`,
		},
		{
			name:     "bad type",
			manifest: "version: 1\nattachments:\n  - path: a.png\n    type: 9lives\n",
			files:    map[string]string{"a.png": png},
			want:     `desksync.yaml:4:11: attachments[0].type: "9lives" is not a valid type: use lowercase letters, digits, '_' and '-', starting with a letter`,
		},
		{
			name:     "filename with a slash",
			manifest: "version: 1\nattachments:\n  - path: a.png\n    filename: img/a.png\n",
			files:    map[string]string{"a.png": png},
			want:     `desksync.yaml:4:15: attachments[0].filename: "img/a.png" must not contain '/' or '\'`,
		},
		{
			name:     "empty filename",
			manifest: "version: 1\nattachments:\n  - path: a.png\n    filename: ''\n",
			files:    map[string]string{"a.png": png},
			want:     `desksync.yaml:4:15: attachments[0].filename: must not be empty`,
		},
		{
			name:     "filename on a glob",
			manifest: "version: 1\nattachments:\n  - path: \"*.png\"\n    filename: logo.png\n",
			files:    map[string]string{"a.png": png},
			want:     "desksync.yaml:4:15: attachments[0].filename: cannot be set on a glob entry: every matching file would get the same name",
		},
		{
			name:     "alias",
			manifest: "version: 1\ndefaults:\n  type: &t attachment\nattachments:\n  - path: a.png\n    type: *t\n",
			files:    map[string]string{"a.png": png},
			want:     "desksync.yaml:6:11: attachments[0].type: YAML aliases (*t) are not supported",
		},
		{
			name:     "duplicate plain address",
			manifest: "version: 1\nattachments:\n  - path: img/a.png\n  - path: ./img/../img/a.png\n",
			files:    map[string]string{"img/a.png": png},
			want:     `desksync.yaml:4:11: attachments[1].path: "img/a.png" is already listed by attachments[0] at line 3`,
		},
		{
			name:     "overlapping globs",
			manifest: "version: 1\nattachments:\n  - path: \"img/*.svg\"\n  - path: \"**/*.svg\"\n",
			files:    map[string]string{"img/a.svg": "<svg/>", "img/b.svg": "<svg/>", "c.svg": "<svg/>"},
			want:     `desksync.yaml:4:11: attachments[1].path: glob also matches 2 files ("img/a.svg", ...), already matched by attachments[0] at line 3`,
		},
		{
			name:     "glob matching nothing",
			manifest: "version: 1\nattachments:\n  - path: \"img/**/*.svg\"\n",
			files:    map[string]string{"img/a.png": png, "img/.hidden.svg": "<svg/>"},
			want:     `desksync.yaml:3:11: attachments[0].path: glob "img/**/*.svg" matches no file`,
		},
		{
			name:     "invalid glob",
			manifest: "version: 1\nattachments:\n  - path: \"img/[a.svg\"\n",
			want:     `desksync.yaml:3:11: attachments[0].path: "img/[a.svg" is not a valid glob`,
		},
		{
			name:     "missing file",
			manifest: "version: 1\nattachments:\n  - path: images/logo.png\n",
			want:     `desksync.yaml:3:11: attachments[0].path: "images/logo.png" does not exist`,
			hint:     "check the spelling; paths are relative to the folder that holds the manifest",
		},
		{
			name:     "directory",
			manifest: "version: 1\nattachments:\n  - path: images/\n",
			files:    map[string]string{"images/a.png": png},
			want:     `desksync.yaml:3:11: attachments[0].path: "images" is a folder, not a file`,
			hint:     `to take the files in it, use a glob such as "images/**/*"`,
		},
		{
			name:     "dot-dot escape",
			manifest: "version: 1\nattachments:\n  - path: img/../../outside/secret.txt\n",
			files:    map[string]string{"../outside/secret.txt": "s3cret"},
			want:     `desksync.yaml:3:11: attachments[0].path: "img/../../outside/secret.txt" leaves the manifest's folder`,
		},
		{
			name:     "dot-dot glob escape",
			manifest: "version: 1\nattachments:\n  - path: \"../*/*.txt\"\n",
			files:    map[string]string{"../outside/secret.txt": "s3cret"},
			want:     `desksync.yaml:3:11: attachments[0].path: "../*/*.txt" leaves the manifest's folder`,
		},
		{
			name:     "absolute path",
			manifest: "version: 1\nattachments:\n  - path: /etc/passwd\n",
			want:     `desksync.yaml:3:11: attachments[0].path: "/etc/passwd" is an absolute path`,
		},
		{
			name:     "drive letter path",
			manifest: "version: 1\nattachments:\n  - path: C:/secret.txt\n",
			want:     `desksync.yaml:3:11: attachments[0].path: "C:/secret.txt" is an absolute path`,
		},
		{
			name:     "backslash",
			manifest: "version: 1\nattachments:\n  - path: img\\a.png\n",
			want:     `desksync.yaml:3:11: attachments[0].path: "img\\a.png" contains a backslash`,
		},
		{
			name:     "symlinked file outside the root",
			manifest: "version: 1\nattachments:\n  - path: passwd\n",
			files:    map[string]string{"../outside/passwd": "root:x:0:0", "passwd": "link:../outside/passwd"},
			want:     `desksync.yaml:3:11: attachments[0].path: "passwd" is a symlink that leads outside the manifest's folder`,
			hint:     "a manifest may only name files inside its own folder, so that a pull request cannot make a pipeline upload files from the machine it runs on; copy the file in instead of linking to it",
		},
		{
			name:     "absolute symlink outside the root",
			manifest: "version: 1\nattachments:\n  - path: key\n",
			files:    map[string]string{"../outside/id_rsa": "KEY", "key": "link:@OUT/id_rsa"},
			want:     `desksync.yaml:3:11: attachments[0].path: "key" is a symlink that leads outside the manifest's folder`,
		},
		{
			name:     "symlinked folder outside the root",
			manifest: "version: 1\nattachments:\n  - path: docs/ssh/id_rsa\n",
			files:    map[string]string{"../outside/id_rsa": "KEY", "docs/ssh": "link:@OUT"},
			want:     `desksync.yaml:3:11: attachments[0].path: "docs/ssh/id_rsa" goes through symlink "docs/ssh", which leads outside the manifest's folder`,
		},
		{
			name:     "glob through a symlinked folder outside the root",
			manifest: "version: 1\nattachments:\n  - path: \"docs/*/*.txt\"\n",
			files: map[string]string{
				"docs/guide/a.txt": "a", "docs/ext": "link:../../outside", "../outside/secret.txt": "s",
			},
			want: `desksync.yaml:3:11: attachments[0].path: glob reaches "docs/ext", a symlink that leads outside the manifest's folder`,
		},
		{
			name:     "glob matching a symlinked file outside the root",
			manifest: "version: 1\nattachments:\n  - path: \"*.txt\"\n",
			files:    map[string]string{"a.txt": "a", "b.txt": "link:@OUT/b.txt", "../outside/b.txt": "b"},
			want:     `desksync.yaml:3:11: attachments[0].path: glob reaches "b.txt", a symlink that leads outside the manifest's folder`,
		},
		{
			name:     "glob through a literal symlinked folder outside the root",
			manifest: "version: 1\nattachments:\n  - path: \"vendor/**/*.txt\"\n  - path: \"vendor/*.txt\"\n",
			files:    map[string]string{"vendor": "link:@OUT", "../outside/secret.txt": "s"},
			want: `desksync.yaml:3:11: attachments[0].path: glob reaches "vendor", a symlink that leads outside the manifest's folder` + "\n" +
				`desksync.yaml:4:11: attachments[1].path: glob reaches "vendor", a symlink that leads outside the manifest's folder`,
		},
		{
			name:     "path through a broken symlinked folder",
			manifest: "version: 1\nattachments:\n  - path: old/a.png\n",
			files:    map[string]string{"old": "link:gone"},
			want:     `desksync.yaml:3:11: attachments[0].path: "old/a.png" goes through broken symlink "old"`,
		},
		{
			name:     "broken symlink",
			manifest: "version: 1\nattachments:\n  - path: gone.png\n",
			files:    map[string]string{"gone.png": "link:nowhere.png"},
			want:     `desksync.yaml:3:11: attachments[0].path: "gone.png" is a broken symlink`,
		},
		{
			name:     "more files than MaxEntries",
			manifest: "version: 1\nattachments:\n  - path: a.txt\n  - path: \"*.md\"\n  - path: z.txt\n",
			files:    map[string]string{"a.txt": "a", "b.md": "b", "c.md": "c", "z.txt": "z"},
			opts:     manifest.Options{MaxEntries: 2},
			want:     "desksync.yaml:4:11: attachments[1].path: the manifest lists more than 2 files, the most allowed",
			hint:     "narrow the globs, split the files over several manifests, or raise the limit with --max-files",
		},
		{
			name:     "glob reading too many folders",
			manifest: "version: 1\nattachments:\n  - path: \"**/*.png\"\n",
			files: map[string]string{
				"a/1/x": "", "a/2/x": "", "a/3/x": "", "b/1/x": "", "b/2/x": "", "b/3/x": "", "c/1/x": "", "c/2/x": "",
			},
			opts: manifest.Options{MaxEntries: 1},
			want: `desksync.yaml:3:11: attachments[0].path: glob "**/*.png" searches more than 10 folders, the most allowed`,
		},
		{
			name: "every error at once, in file order",
			manifest: "version: 1\nattachments:\n  - path: missing.png\n  - path: a.png\n    disposition: inline\n" +
				"  - path: /etc/passwd\n",
			files: map[string]string{"a.png": png},
			want: `desksync.yaml:3:11: attachments[0].path: "missing.png" does not exist` + "\n" +
				`desksync.yaml:5:18: attachments[1].disposition: "inline" is not attachment or attachment-inline` + "\n" +
				`desksync.yaml:6:11: attachments[2].path: "/etc/passwd" is an absolute path`,
			hint: "check the spelling; paths are relative to the folder that holds the manifest",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			mp := tree(t, tt.manifest, tt.files)
			tt.opts.State = strings.ReplaceAll(tt.opts.State, "@ROOT", filepath.Dir(mp))
			m, err := manifest.Load(mp, tt.opts)
			if err == nil {
				t.Fatalf("Load succeeded with %d entries, want error:\n%s", len(m.Entries), tt.want)
			}
			if got := relErr(mp, err); got != tt.want {
				t.Errorf("error:\n got: %s\nwant: %s", got, tt.want)
			}
			var list manifest.ErrorList
			if !errors.As(err, &list) || len(list) != strings.Count(tt.want, "\n")+1 {
				t.Errorf("error is %T with %d entries, want an ErrorList of %d", err, len(list), strings.Count(tt.want, "\n")+1)
			}
			if tt.hint != "" {
				if got := hintOf(err); got != tt.hint {
					t.Errorf("hint:\n got: %s\nwant: %s", got, tt.hint)
				}
			}
		})
	}
}
