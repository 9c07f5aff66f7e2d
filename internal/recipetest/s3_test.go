package recipetest

import (
	"context"
	"io"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/desksync/desksync/internal/seaweedtest"
)

// The S3 recipe against SeaweedFS: a pull request's plan is posted as one comment;
// two merges pushed before either run starts are applied once, at the tip, through
// the approved plan, with the state in the bucket.
func TestGitHubS3TwoMergesBeforeEitherRun(t *testing.T) {
	t.Parallel()
	srv := seaweedtest.Require(t)
	bucket := srv.NewBucket(t)
	w := NewWorld(t, seed())
	w.Vars["DESKSYNC_STATE"] = "s3://" + bucket + "/docs/desksync.state.json"
	w.Vars["AWS_REGION"] = seaweedtest.Region
	w.RunnerEnv = map[string]string{"AWS_ENDPOINT_URL_S3": srv.Endpoint, "AWS_REGION": seaweedtest.Region,
		"AWS_ACCESS_KEY_ID": srv.AccessKey, "AWS_SECRET_ACCESS_KEY": srv.SecretKey, "AWS_EC2_METADATA_DISABLED": "true"}
	file := workflow("desksync-apply-s3.yml")

	pr := w.Commit("pr", "add e", map[string]string{"files/e.txt": "e\n"})
	review := w.RunGitHub(file, GitHubEvent{Name: "pull_request", Ref: "refs/pull/3/merge", SHA: pr,
		PullRequest: map[string]any{"number": float64(3), "head": map[string]any{"sha": pr, "repo": map[string]any{"full_name": "acme/docs"}}}})
	mustSucceed(t, review, "the review of a pull request")
	if c := w.Comments(); len(c) != 1 || !strings.Contains(c[0], "files/e.txt") {
		t.Errorf("the review did not post the plan: %q", c)
	}

	x := w.Commit("main", "add c", map[string]string{"files/c.txt": "c\n"})
	y := w.Commit("main", "add d", map[string]string{"files/d.txt": "d\n"})
	r1 := w.RunGitHub(file, push(w, x))
	mustSucceed(t, r1, "the run for the first merge")
	if r1.Jobs["apply"].Result != "success" || r1.Jobs["review"].Result != "skipped" {
		t.Fatalf("the first run did not plan and apply:\n%s", r1.Logs())
	}
	r2 := w.RunGitHub(file, push(w, y))
	mustSucceed(t, r2, "the run for the second merge")
	if r2.Jobs["apply"].Result != "skipped" {
		t.Errorf("the second run's apply is %s, want skipped:\n%s", r2.Jobs["apply"].Result, r2.Logs())
	}
	obj, err := srv.Client().GetObject(context.Background(), &s3.GetObjectInput{Bucket: aws.String(bucket), Key: aws.String("docs/desksync.state.json")})
	if err != nil {
		t.Fatalf("the state is not in the bucket: %v", err)
	}
	defer obj.Body.Close()
	st, err := io.ReadAll(obj.Body)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"files/a.txt": "a\n", "files/b.txt": "b\n", "files/c.txt": "c\n", "files/d.txt": "d\n"}
	w.CheckConverged(string(st), want, nil)
}
