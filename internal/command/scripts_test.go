package command

import (
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"os"
	"path/filepath"
	"runtime"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/seaweedtest"
	"github.com/rogpeppe/go-internal/testscript"
)

const scriptAPIKey = "script-key-0123456789"

func TestMain(m *testing.M) {
	// As package main does, with the file it embeds; found from this source file, since
	// the re-executed test binary runs in a script's work folder.
	_, self, _, _ := runtime.Caller(0)
	schema, err := os.ReadFile(filepath.Join(filepath.Dir(self), "..", "..", "desksync.schema.json"))
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	ManifestSchema = schema
	// Main puts "desksync" (this test binary, re-executed) on PATH for every test in the
	// package: the scripts, the crash torture and the security tests run the real CLI.
	// seaweedtest.Main runs one SeaweedFS for the S3 scripts (TestS3Scripts) when configured.
	testscript.Main(seaweedtest.Main(m), map[string]func(){
		"desksync": func() { os.Exit(Run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr)) },
		// desksync-panicking is desksync with a stdout whose first write panics, for
		// the scripts that check a panic still releases the state lock.
		"desksync-panicking": func() { os.Exit(Run(os.Args[1:], os.Stdin, panickingWriter{}, os.Stderr)) },
	})
}

// TestScripts runs testdata/script/*.txtar, each against its own Desk emulator on loopback.
// Run with -update to rewrite the goldens inside the archives (then review the diff).
func TestScripts(t *testing.T) {
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		UpdateScripts:       *update,
		Setup: func(env *testscript.Env) error {
			srv := desktest.New(desktest.Options{APIKey: scriptAPIKey})
			ts := httptest.NewServer(srv)
			env.Defer(ts.Close)
			env.Setenv("DESK_URL", ts.URL)
			env.Setenv("DESK_API_KEY", scriptAPIKey)
			env.Setenv("NO_COLOR", "")
			env.Values[emulatorKey{}] = srv
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"desk":   cmdDesk,
			"signal": cmdSignal,
		},
	})
}

type emulatorKey struct{}

// cmdDesk inspects or disturbs the script's emulator:
//
//	desk files                 one line per file: id state filename size md5
//	desk latency DURATION      delay every request
//	desk fault ENDPOINT STATUS TIMES
//	desk remove ID             purge a file behind desksync's back
//	desk rename ID NAME        change a file's filename on Desk
//	desk disposition ID VALUE  change a file's disposition on Desk
//	desk state ID STATE        set a file's state on Desk (e.g. deleted)
//	desk content ID FILE       replace a file's content on Desk with FILE's
func cmdDesk(ts *testscript.TestScript, neg bool, args []string) {
	if neg {
		ts.Fatalf("desk does not support !")
	}
	srv := ts.Value(emulatorKey{}).(*desktest.Server)
	// Claim stdout even when printing nothing, so "! stdout ." checks this command's output.
	out := ts.Stdout()
	if len(args) == 0 {
		ts.Fatalf("usage: desk files|fault|remove|rename|disposition|state|content")
	}
	switch args[0] {
	case "files":
		for _, f := range srv.Files() {
			fmt.Fprintf(out, "%d %s %s %d %s\n", f.ID, f.State, f.Filename, f.Size, f.MD5)
		}
	case "fault":
		if len(args) != 4 {
			ts.Fatalf("usage: desk fault ENDPOINT STATUS TIMES")
		}
		status, err := strconv.Atoi(args[2])
		ts.Check(err)
		times, err := strconv.Atoi(args[3])
		ts.Check(err)
		ep, ok := endpoints[args[1]]
		if !ok {
			ts.Fatalf("unknown endpoint %q", args[1])
		}
		srv.Inject(ep, desktest.Fault{Status: status, Times: times})
	case "latency":
		if len(args) != 2 {
			ts.Fatalf("usage: desk latency DURATION")
		}
		d, err := time.ParseDuration(args[1])
		ts.Check(err)
		srv.SetLatency(d)
	case "remove":
		id, err := strconv.ParseInt(args[1], 10, 64)
		ts.Check(err)
		ts.Check(srv.Remove(id))
	case "rename", "disposition", "state":
		if len(args) != 3 {
			ts.Fatalf("usage: desk %s ID VALUE", args[0])
		}
		id, err := strconv.ParseInt(args[1], 10, 64)
		ts.Check(err)
		ts.Check(srv.Edit(id, func(f *desktest.FileRecord) {
			switch args[0] {
			case "rename":
				f.Filename = args[2]
			case "disposition":
				f.Disposition = args[2]
			case "state":
				f.State = args[2]
			}
		}))
	case "content":
		if len(args) != 3 {
			ts.Fatalf("usage: desk content ID FILE")
		}
		id, err := strconv.ParseInt(args[1], 10, 64)
		ts.Check(err)
		data, err := os.ReadFile(ts.MkAbs(args[2]))
		ts.Check(err)
		ts.Check(srv.SetContent(id, data))
	default:
		ts.Fatalf("unknown desk subcommand %q", args[0])
	}
}

// cmdSignal sends a signal to the desksync run that holds a state lock:
//
//	signal INT|TERM|HUP|PIPE LOCKFILE
//
// It waits up to 10 s for LOCKFILE to appear and reads the holder's pid from it, since
// testscript's own kill knows only INT and KILL, and the lock is what the signal must
// not leave behind.
func cmdSignal(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 2 {
		ts.Fatalf("usage: signal INT|TERM|HUP|PIPE LOCKFILE")
	}
	sig, ok := map[string]syscall.Signal{
		"INT": syscall.SIGINT, "TERM": syscall.SIGTERM, "HUP": syscall.SIGHUP, "PIPE": syscall.SIGPIPE,
	}[args[0]]
	if !ok {
		ts.Fatalf("unknown signal %q", args[0])
	}
	var holder struct {
		PID int `json:"pid"`
	}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(10 * time.Millisecond) {
		data, err := os.ReadFile(ts.MkAbs(args[1]))
		if err == nil && json.Unmarshal(data, &holder) == nil && holder.PID > 0 {
			break
		}
		if time.Now().After(deadline) {
			ts.Fatalf("no lock with a pid in %s after 10s (%v)", args[1], err)
		}
	}
	if holder.PID == os.Getpid() {
		ts.Fatalf("the lock names this test process, not a desksync run")
	}
	p, err := os.FindProcess(holder.PID)
	ts.Check(err)
	ts.Check(p.Signal(sig))
}

// panickingWriter panics on every write: a stand-in for a bug anywhere in a command.
type panickingWriter struct{}

func (panickingWriter) Write([]byte) (int, error) { panic("test: panickingWriter") }

var endpoints = map[string]desktest.Endpoint{
	"ref":    desktest.Ref,
	"upload": desktest.Upload,
	"patch":  desktest.Patch,
	"get":    desktest.Get,
	"delete": desktest.Delete,
}
