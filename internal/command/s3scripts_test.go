package command

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http/httptest"
	"os"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/desksync/desksync/desk/desktest"
	"github.com/desksync/desksync/internal/seaweedtest"
	"github.com/desksync/desksync/state"
	"github.com/rogpeppe/go-internal/testscript"
)

// TestS3Scripts runs testdata/s3script/*.txtar with the state on the test binary's
// SeaweedFS (a fresh bucket per script, DESKSYNC_STATE=s3://$BUCKET/team/desksync.state.json)
// and a Desk emulator of their own.
func TestS3Scripts(t *testing.T) {
	srv := seaweedtest.Require(t)
	testscript.Run(t, testscript.Params{
		Dir:                 "testdata/s3script",
		RequireExplicitExec: true,
		RequireUniqueNames:  true,
		Setup: func(env *testscript.Env) error {
			desk := desktest.New(desktest.Options{APIKey: scriptAPIKey})
			ts := httptest.NewServer(desk)
			env.Defer(ts.Close)
			bucket, err := srv.CreateBucket()
			if err != nil {
				return err
			}
			for k, v := range map[string]string{
				"DESK_URL": ts.URL, "DESK_API_KEY": scriptAPIKey, "NO_COLOR": "",
				"AWS_ENDPOINT_URL_S3": srv.Endpoint, "AWS_REGION": seaweedtest.Region,
				"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey,
				"AWS_EC2_METADATA_DISABLED": "true",
				"BUCKET":                    bucket,
				"DESKSYNC_STATE":            "s3://" + bucket + "/team/desksync.state.json",
			} {
				env.Setenv(k, v)
			}
			env.Values[emulatorKey{}] = desk
			env.Values[s3Key{}] = srv
			return nil
		},
		Cmds: map[string]func(ts *testscript.TestScript, neg bool, args []string){
			"desk":      cmdDesk,
			"desk-slow": cmdDeskSlow,
			"s3":        cmdS3,
			"converged": cmdConverged,
		},
	})
}

type s3Key struct{}

// cmdDeskSlow delays the next TIMES calls of an emulator endpoint:
//
//	desk-slow ENDPOINT DURATION TIMES
func cmdDeskSlow(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 3 {
		ts.Fatalf("usage: desk-slow ENDPOINT DURATION TIMES")
	}
	d, err := time.ParseDuration(args[1])
	ts.Check(err)
	var times int
	_, err = fmt.Sscan(args[2], &times)
	ts.Check(err)
	ep, ok := endpoints[args[0]]
	if !ok {
		ts.Fatalf("unknown endpoint %q", args[0])
	}
	ts.Value(emulatorKey{}).(*desktest.Server).Inject(ep, desktest.Fault{Latency: d, Times: times})
}

// cmdS3 inspects or disturbs the script's bucket behind desksync's back:
//
//	s3 get KEY        print the object
//	s3 put KEY FILE   replace the object with FILE (unconditionally)
//	s3 exists KEY     fail unless the object exists (! s3 exists: unless it does not)
//	s3 ls PREFIX      one key per line
//	s3 touch KEY FILE  rewrite the object (a newline added) behind desksync's back; copy to FILE
//	s3 lockid VAR     set $VAR to the id in team/desksync.state.json.lock
//	s3 await PREFIX [TEXT]  wait (up to 60 s) for an object under PREFIX (holding TEXT)
func cmdS3(ts *testscript.TestScript, neg bool, args []string) {
	if len(args) < 2 {
		ts.Fatalf("usage: s3 get|put|exists|ls|lockid ...")
	}
	srv := ts.Value(s3Key{}).(*seaweedtest.Server)
	client, bucket := srv.Client(), ts.Getenv("BUCKET")
	ctx := context.Background()
	get := func(key string) ([]byte, error) {
		out, err := client.GetObject(ctx, &s3.GetObjectInput{Bucket: &bucket, Key: &key})
		if err != nil {
			return nil, err
		}
		defer out.Body.Close()
		return io.ReadAll(out.Body)
	}
	switch args[0] {
	case "get":
		data, err := get(args[1])
		ts.Check(err)
		ts.Stdout().Write(data)
	case "put":
		data, err := os.ReadFile(ts.MkAbs(args[2]))
		ts.Check(err)
		_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &args[1], Body: bytes.NewReader(data)})
		ts.Check(err)
	case "exists":
		_, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: &bucket, Key: &args[1]})
		if (err == nil) == neg {
			ts.Fatalf("s3://%s/%s exists: %v (err %v)", bucket, args[1], err == nil, err)
		}
		return
	case "ls":
		out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &args[1]})
		ts.Check(err)
		for _, o := range out.Contents {
			fmt.Fprintln(ts.Stdout(), aws.ToString(o.Key))
		}
	case "await":
		// Wait until an object under the prefix exists (and holds TEXT, when given).
		deadline := time.Now().Add(60 * time.Second)
		for found := false; !found; {
			out, err := client.ListObjectsV2(ctx, &s3.ListObjectsV2Input{Bucket: &bucket, Prefix: &args[1]})
			ts.Check(err)
			for _, o := range out.Contents {
				if len(args) < 3 {
					found = true
					break
				}
				data, err := get(aws.ToString(o.Key))
				if err == nil && bytes.Contains(data, []byte(args[2])) {
					found = true
					break
				}
			}
			if !found && time.Now().After(deadline) {
				ts.Fatalf("no object under s3://%s/%s holding %q appeared within 60s", bucket, args[1], args[2:])
			}
			time.Sleep(50 * time.Millisecond)
		}
	case "touch":
		// Rewrite the object with a newline added: the same state, another ETag. Keep
		// what was written in FILE.
		data, err := get(args[1])
		ts.Check(err)
		data = append(data, '\n')
		_, err = client.PutObject(ctx, &s3.PutObjectInput{Bucket: &bucket, Key: &args[1], Body: bytes.NewReader(data)})
		ts.Check(err)
		ts.Check(os.WriteFile(ts.MkAbs(args[2]), data, 0o644))
	case "lockid":
		data, err := get("team/desksync.state.json.lock")
		ts.Check(err)
		var info state.LockInfo
		ts.Check(json.Unmarshal(data, &info))
		ts.Setenv(args[1], info.ID)
	default:
		ts.Fatalf("unknown s3 subcommand %q", args[0])
	}
	if neg {
		ts.Fatalf("s3 %s does not support !", args[0])
	}
}

// cmdConverged checks the emulator against a state file (from state pull) with
// checkConvergedOn, allowing no unrecorded temp file: docs/crash-safety.md's "exactly one active Desk
// file per address and no leftovers".
//
//	converged STATEFILE
func cmdConverged(ts *testscript.TestScript, neg bool, args []string) {
	if neg || len(args) != 1 {
		ts.Fatalf("usage: converged STATEFILE")
	}
	data, err := os.ReadFile(ts.MkAbs(args[0]))
	ts.Check(err)
	st, err := state.Decode(data)
	ts.Check(err)
	problem, temps := checkConvergedOn(st, ts.Value(emulatorKey{}).(*desktest.Server).Files())
	switch {
	case problem != "":
		ts.Fatalf("%s", problem)
	case temps > 0:
		ts.Fatalf("%d temp files on Desk are in no state record", temps)
	}
}

// checkConvergedOn returns why Desk and st disagree, or "" when every Desk file that is
// not deleted is active and the state's record of exactly one address, and st has
// nothing pending or deposed. A temp file that never received an upload is tolerated and
// counted: Desk creates it when it answers a ref, and a kill before the answer arrives
// leaves it unrecorded (docs/crash-safety.md).
func checkConvergedOn(st *state.State, files []desktest.FileRecord) (problem string, unrecordedTemps int) {
	if len(st.Pending) > 0 || len(st.Deposed) > 0 {
		return fmt.Sprintf("state still has %d pending and %d deposed records", len(st.Pending), len(st.Deposed)), 0
	}
	tracked := map[int64]string{}
	for addr, a := range st.Attachments {
		tracked[a.ID] = addr
	}
	live := map[int64]bool{}
	for _, f := range files {
		if f.State == "deleted" {
			continue
		}
		addr, ok := tracked[f.ID]
		switch {
		case !ok && f.State == "temp" && f.MD5 == "":
			unrecordedTemps++
			continue
		case !ok:
			return fmt.Sprintf("orphan: Desk file %d (%s, %s) is in no state record", f.ID, f.Filename, f.State), 0
		case f.State != "active":
			return fmt.Sprintf("Desk file %d of %s is %s, not active", f.ID, addr, f.State), 0
		}
		live[f.ID] = true
	}
	for id, addr := range tracked {
		if !live[id] {
			return fmt.Sprintf("%s: the state's Desk file %d is not on Desk", addr, id), 0
		}
	}
	return "", unrecordedTemps
}
