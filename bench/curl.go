package main

import (
	"bytes"
	"context"
	_ "embed"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// curlSh is bench/curl.sh, embedded so that the bench runs it from any folder.
//
//go:embed curl.sh
var curlSh []byte

// curlCompare uploads the first file with curl -F to the S3 endpoint of a fresh
// emulator ref and compares the time with desksync's upload of the same file (the
// NDJSON start and done of its create).
func curlCompare(ctx context.Context, cfg config, set *fileSet, dir string, rep *report, w io.Writer) error {
	if _, err := exec.LookPath("curl"); err != nil {
		return fmt.Errorf("-one compares with curl -F, and curl is not on PATH: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	srv, url, stop, err := emulator(cfg, set, dir)
	if err != nil {
		return err
	}
	defer stop()
	_ = srv

	ref, err := createRef(ctx, url)
	if err != nil {
		return err
	}
	args := []string{"-sS", "-o", "/dev/null", "-w", "%{http_code}", "-X", "POST", ref.URL}
	for _, k := range ref.keys() {
		args = append(args, "--form-string", k+"="+ref.Params[k])
	}
	args = append(args, "-F", "file=@"+set.path(0)+";type=application/octet-stream")
	cmd := exec.CommandContext(ctx, "curl", args...)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	if err != nil || strings.TrimSpace(out.String()) != "201" {
		return fmt.Errorf("curl -F upload: %v, HTTP %s %s", err, out.String(), errb.String())
	}
	var rss int64
	if u, ok := childUsage(cmd.ProcessState); ok {
		rss = u.maxRSS
	}

	up := rep.events.uploadDone.Sub(rep.events.uploadStart)
	mb := float64(set.sizes[0]) / 1e6
	fmt.Fprintf(w, "\ncurl -F of the same file to the same emulator endpoint (S3 POST only)\n")
	fmt.Fprintf(w, "  time            %v, %.1f MB/s, peak RSS %.1f MiB\n", elapsed.Round(time.Millisecond), mb/elapsed.Seconds(), float64(rss)/(1<<20))
	fmt.Fprintf(w, "desksync's upload (ref + S3 POST + PATCH, NDJSON start to done)\n")
	fmt.Fprintf(w, "  time            %v, %.1f MB/s: %.2fx curl's time\n", up.Round(time.Millisecond), mb/up.Seconds(), up.Seconds()/elapsed.Seconds())
	fmt.Fprintf(w, "  whole apply     %v (includes hashing the file for the plan): %.2fx curl's time\n",
		rep.wall.Round(time.Millisecond), rep.wall.Seconds()/elapsed.Seconds())
	return nil
}

// ref is the part of a ref answer curl needs.
type ref struct {
	URL    string            `json:"url"`
	Params map[string]string `json:"params"`
	File   struct {
		ID int64 `json:"id"`
	} `json:"file"`
}

// keys returns the params in a stable order; S3 accepts them in any order as long as
// the file comes last.
func (r *ref) keys() []string {
	keys := make([]string, 0, len(r.Params))
	for k := range r.Params {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	return keys
}

func createRef(ctx context.Context, base string) (*ref, error) {
	body := `{"type":"attachment","filename":"f00000.bin","mimeType":"application/octet-stream","disposition":"attachment"}`
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, base+"/desk/api/v2/files/ref.json", strings.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Authorization", "Bearer "+apiKey)
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, fmt.Errorf("creating a ref for curl: %w", err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 1<<20))
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusCreated {
		return nil, fmt.Errorf("creating a ref for curl: %s: %s", resp.Status, data)
	}
	var r ref
	if err := json.Unmarshal(data, &r); err != nil {
		return nil, fmt.Errorf("creating a ref for curl: %w", err)
	}
	return &r, nil
}

// curlScript runs bench/curl.sh once for the first file against a fresh emulator and
// reports its time: the API documentation's way of uploading, for reference.
func curlScript(ctx context.Context, set *fileSet, dir string, w io.Writer) error {
	for _, tool := range []string{"bash", "curl", "jq"} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("-curl runs bench/curl.sh, which needs %s on PATH: %w", tool, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	script := filepath.Join(dir, "curl.sh")
	if err := os.WriteFile(script, curlSh, 0o755); err != nil {
		return err
	}
	srv, url, stop, err := emulator(config{store: "mem"}, set, dir)
	if err != nil {
		return err
	}
	defer stop()
	cmd := exec.CommandContext(ctx, "bash", script, set.path(0))
	cmd.Env = append(os.Environ(), "DESK_URL="+url, "DESK_API_KEY="+apiKey)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	start := time.Now()
	err = cmd.Run()
	elapsed := time.Since(start)
	if err != nil {
		return fmt.Errorf("bench/curl.sh: %v\n%s", err, errb.String())
	}
	active := 0
	for _, f := range srv.Files() {
		if f.State == "active" && f.Size == set.sizes[0] {
			active++
		}
	}
	if active != 1 {
		return fmt.Errorf("bench/curl.sh ran, but the emulator holds %d active files of the right size, want 1:\n%s", active, out.String())
	}
	fmt.Fprintf(w, "\nbench/curl.sh (ref with curl+jq, curl -F, PATCH; 4 curl and 4 jq processes) for one %s file\n", human(set.sizes[0]))
	fmt.Fprintf(w, "  time            %v (%s files/s if repeated one by one)\n", elapsed.Round(time.Millisecond),
		strconv.FormatFloat(1/elapsed.Seconds(), 'f', 1, 64))
	return nil
}
