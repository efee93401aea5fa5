package hub

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"math"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/parquet-go/parquet-go"

	"github.com/smaug-dev/smaug/data"
	"github.com/smaug-dev/smaug/hf"
	"github.com/smaug-dev/smaug/internal/sharedtest"
	"github.com/smaug-dev/smaug/model"
)

// TestPullFixtureModel serves the shared policy_bf16 fixture from the fake
// hub (safetensors through LFS and the CDN), resolves it (ModelFiles only:
// a pytorch_model.bin beside is not fetched) and loads the
// snapshot: the logits equal those of the fixture folder loaded directly,
// and stay within bfloat16's 2e-2 (relative L2) of transformers' float32
// logits.
func TestPullFixtureModel(t *testing.T) {
	root := sharedtest.Path(t, "fixtures/hf/llama")
	src := filepath.Join(root, "policy_bf16")
	files := map[string][]byte{}
	ents, err := os.ReadDir(src)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		b, err := os.ReadFile(filepath.Join(src, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		files[e.Name()] = b
	}
	files["pytorch_model.bin"] = []byte("another format, not needed")
	f := newFakeHub(t)
	f.add("model", "smaug-fixtures/policy_bf16", commitA, files, "model.safetensors")
	c := f.client(t)
	dir, err := c.Resolve(context.Background(), "smaug-fixtures/policy_bf16", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "pytorch_model.bin")); err == nil {
		t.Error("Resolve downloaded pytorch_model.bin (not in ModelFiles)")
	}
	pulled, err := model.Load(dir)
	if err != nil {
		t.Fatal(err)
	}
	direct, err := model.Load(src)
	if err != nil {
		t.Fatal(err)
	}
	var exp struct {
		Forward struct {
			IDsA []int `json:"ids_a"`
		} `json:"forward"`
	}
	b, _ := os.ReadFile(filepath.Join(root, "expected.json"))
	if err := json.Unmarshal(b, &exp); err != nil {
		t.Fatal(err)
	}
	got, err := pulled.Logits([][]int{exp.Forward.IDsA})
	if err != nil {
		t.Fatal(err)
	}
	same, _ := direct.Logits([][]int{exp.Forward.IDsA})
	if !reflect.DeepEqual(got, same) {
		t.Fatal("logits of the pulled snapshot differ from the fixture folder's")
	}
	lf, err := hf.OpenSafetensors(filepath.Join(root, "logits.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	defer lf.Close()
	ten, _ := lf.Tensor("logits_a")
	want, _ := ten.Float32()
	var d2, n2 float64
	for i := range want {
		d := float64(got[0][i] - want[i])
		d2 += d * d
		n2 += float64(want[i]) * float64(want[i])
	}
	r := math.Sqrt(d2 / n2)
	t.Logf("pulled bf16 policy: logits relative error %.2e vs transformers (float32)", r)
	if r > 2e-2 {
		t.Errorf("relative error %.2e > 2e-2", r)
	}
}

// TestPush records what Push sends and checks it against the hub's API as
// huggingface_hub calls it: create the repository, preupload (path, first
// 512 bytes in base64, size), the LFS batch (upload, basic, sha256, ref),
// the PUT with the batch's headers, verify, and the NDJSON commit (header,
// regular files in base64, LFS pointers), with a generated README.md.
func TestPush(t *testing.T) {
	f := newFakeHub(t)
	dir := t.TempDir()
	weights := bytes.Repeat([]byte{1, 2, 3, 4}, 300)
	cfg := []byte(`{"model_type": "llama"}`)
	os.WriteFile(filepath.Join(dir, "model.safetensors"), weights, 0o644)
	os.WriteFile(filepath.Join(dir, "config.json"), cfg, 0o644)
	os.WriteFile(filepath.Join(dir, ".hidden"), []byte("x"), 0o644)
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("model: org/base\ndata: org/pairs\nloss: dpop\nbeta: 0.3\nlr: 5e-07\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "metrics.jsonl"), []byte(`{"step": 1, "loss": 0.7}`+"\n"+`{"step": 2, "loss": 0.5}`+"\n"), 0o644)
	card, err := CardFromRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	c := f.client(t)
	u, err := c.Push(context.Background(), dir, "org/new", PushOptions{Private: true, Card: card})
	if err != nil {
		t.Fatal(err)
	}
	if u != f.hub.URL+"/org/new/commit/abc" {
		t.Errorf("commit URL %q", u)
	}
	var paths []string
	for _, call := range f.calls {
		paths = append(paths, call.Method+" "+call.Path)
	}
	sha := sha256Hex(weights)
	wantPaths := []string{
		"POST /api/repos/create",
		"POST /api/models/org/new/preupload/main",
		"POST /org/new.git/info/lfs/objects/batch",
		"PUT /lfs-upload/" + sha,
		"POST /lfs-verify",
		"POST /api/models/org/new/commit/main",
	}
	if !reflect.DeepEqual(paths, wantPaths) {
		t.Fatalf("calls %v\nwant %v", paths, wantPaths)
	}
	js := func(i int) map[string]any {
		var m map[string]any
		if err := json.Unmarshal(f.calls[i].Body, &m); err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		return m
	}
	if m := js(0); m["name"] != "new" || m["organization"] != "org" || m["visibility"] != "private" {
		t.Errorf("create: %v", m)
	}
	pre := js(1)["files"].([]any)
	readme := card.Markdown()
	wantPre := []map[string]any{
		{"path": "config.json", "sample": base64.StdEncoding.EncodeToString(cfg), "size": float64(len(cfg))},
		{"path": "config.yaml"}, {"path": "metrics.jsonl"},
		{"path": "model.safetensors", "sample": base64.StdEncoding.EncodeToString(weights[:512]), "size": float64(len(weights))},
		{"path": "README.md", "size": float64(len(readme))},
	}
	if len(pre) != len(wantPre) {
		t.Fatalf("preupload files %v", pre)
	}
	for i, w := range wantPre {
		g := pre[i].(map[string]any)
		for k, v := range w {
			if g[k] != v {
				t.Errorf("preupload %d: %s = %v, want %v", i, k, g[k], v)
			}
		}
	}
	batch := js(2)
	if f.calls[2].ContentType != "application/vnd.git-lfs+json" || batch["operation"] != "upload" || batch["hash_algo"] != "sha256" ||
		!reflect.DeepEqual(batch["transfers"], []any{"basic"}) || !reflect.DeepEqual(batch["ref"], map[string]any{"name": "main"}) ||
		!reflect.DeepEqual(batch["objects"], []any{map[string]any{"oid": sha, "size": float64(len(weights))}}) {
		t.Errorf("LFS batch: %s", f.calls[2].Body)
	}
	if !bytes.Equal(f.lfsPuts[sha], weights) {
		t.Error("the LFS upload is not the file's bytes")
	}
	if v := js(4); v["oid"] != sha || v["size"] != float64(len(weights)) {
		t.Errorf("verify: %v", v)
	}
	if f.calls[5].ContentType != "application/x-ndjson" {
		t.Errorf("commit content type %q", f.calls[5].ContentType)
	}
	lines := strings.Split(strings.TrimSuffix(string(f.calls[5].Body), "\n"), "\n")
	var keys []string
	for _, l := range lines {
		var m struct {
			Key   string         `json:"key"`
			Value map[string]any `json:"value"`
		}
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("commit line %q: %v", l, err)
		}
		keys = append(keys, m.Key)
		switch m.Key {
		case "header":
			if m.Value["summary"] != "Upload with smaug" {
				t.Errorf("header %v", m.Value)
			}
		case "file":
			if m.Value["path"] == "config.json" && m.Value["content"] != base64.StdEncoding.EncodeToString(cfg) {
				t.Errorf("config.json content %v", m.Value)
			}
			if m.Value["path"] == "README.md" {
				b, _ := base64.StdEncoding.DecodeString(m.Value["content"].(string))
				if !bytes.Equal(b, readme) {
					t.Errorf("README.md content differs from the card")
				}
			}
		case "lfsFile":
			if m.Value["path"] != "model.safetensors" || m.Value["oid"] != sha || m.Value["algo"] != "sha256" || m.Value["size"] != float64(len(weights)) {
				t.Errorf("lfsFile %v", m.Value)
			}
		}
	}
	if want := []string{"header", "file", "file", "file", "lfsFile", "file"}; !reflect.DeepEqual(keys, want) {
		t.Errorf("commit lines %v, want %v", keys, want)
	}
	for _, want := range []string{`base_model: "org/base"`, `- "org/pairs"`, "- smaug", `- "dpop"`, "| beta | 0.3 |", "| loss | 0.5 |", "| step | 2 |"} {
		if !strings.Contains(string(readme), want) {
			t.Errorf("model card lacks %q:\n%s", want, readme)
		}
	}
	// Without a token nothing is sent.
	c.Token = ""
	n := len(f.calls)
	if _, err := c.Push(context.Background(), dir, "org/new", PushOptions{}); err == nil || !strings.Contains(err.Error(), "HF_TOKEN") {
		t.Errorf("push without token: %v", err)
	}
	if len(f.calls) != n {
		t.Error("push without token made calls")
	}
}

type pairRow struct {
	Prompt   string `parquet:"prompt"`
	Chosen   string `parquet:"chosen"`
	Rejected string `parquet:"rejected"`
}

func parquetFile(t *testing.T, rows []pairRow) []byte {
	var b bytes.Buffer
	w := parquet.NewGenericWriter[pairRow](&b)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestDatasetShards: a dataset whose train split is two parquet shards
// (data/train-0000i-of-00002.parquet) and whose test split is one, pulled
// by repo id through the cache: the train split reads as one stream of
// rows in shard order, the test split as its file; the refs/convert/parquet
// layout (CONFIG/SPLIT/NNNN.parquet) is found too.
func TestDatasetShards(t *testing.T) {
	train0 := []pairRow{{"p1", "c1", "r1"}, {"p2", "c2", "r2"}}
	train1 := []pairRow{{"p3", "c3", "r3"}}
	test := []pairRow{{"t1", "tc", "tr"}}
	f := newFakeHub(t)
	f.add("dataset", "org/pairs", commitB, map[string][]byte{
		"README.md":                         []byte("# pairs\n"),
		"data/train-00000-of-00002.parquet": parquetFile(t, train0),
		"data/train-00001-of-00002.parquet": parquetFile(t, train1),
		"data/test-00000-of-00001.parquet":  parquetFile(t, test),
		"scripts/make_train-00000-of-x.py":  []byte("print(1)\n"),
	}, "data/train-00000-of-00002.parquet", "data/train-00001-of-00002.parquet", "data/test-00000-of-00001.parquet")
	c := f.client(t)
	read := func(p string) []pairRow {
		rows, _, err := data.ReadAllRows(p, data.ReadOptions{}, false)
		if err != nil {
			t.Fatal(err)
		}
		var out []pairRow
		for _, r := range rows {
			out = append(out, pairRow{r.Fields["prompt"].(string), r.Fields["chosen"].(string), r.Fields["rejected"].(string)})
		}
		return out
	}
	p, err := c.ResolveData(context.Background(), "org/pairs", "train", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if got := read(p); !reflect.DeepEqual(got, append(append([]pairRow{}, train0...), train1...)) {
		t.Errorf("train rows %v", got)
	}
	p, err = c.ResolveData(context.Background(), "org/pairs", "test", PullOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if filepath.Base(p) != "test-00000-of-00001.parquet" || !reflect.DeepEqual(read(p), test) {
		t.Errorf("test split %s", p)
	}
	if _, err := os.Stat(filepath.Join(c.Cache, "datasets--org--pairs", "snapshots", commitB, "README.md")); err == nil {
		t.Error("ResolveData downloaded a file that is not data")
	}
	if _, err := c.ResolveData(context.Background(), "org/pairs", "validation", PullOptions{}); err == nil || !strings.Contains(err.Error(), `split "validation"`) {
		t.Errorf("missing split: %v", err)
	}
	// refs/convert/parquet layout
	dir := t.TempDir()
	os.MkdirAll(filepath.Join(dir, "default", "train"), 0o755)
	os.MkdirAll(filepath.Join(dir, "default", "test"), 0o755)
	for _, n := range []string{"default/train/0000.parquet", "default/train/0001.parquet", "default/test/0000.parquet"} {
		os.WriteFile(filepath.Join(dir, n), []byte("x"), 0o644)
	}
	files, err := DataFiles(dir, "train")
	if err != nil || len(files) != 2 || !strings.HasSuffix(files[1], filepath.FromSlash("default/train/0001.parquet")) {
		t.Errorf("convert/parquet layout: %v, %v", files, err)
	}
}

// TestCardRepoIDs: paths inside the cache (snapshots, ResolveData's split
// folders) are named by their repo ids in the card; a user's README.md is
// pushed as it is, smaug's own adapter card is replaced.
func TestCardRepoIDs(t *testing.T) {
	dir := t.TempDir()
	os.WriteFile(filepath.Join(dir, "config.yaml"), []byte("model: /c/hub/models--Qwen--Qwen2.5-0.5B/snapshots/"+commitA+"\n"+
		"data: /c/smaug/splits/datasets--org--pairs/"+commitB+"/train\nloss: dpo\n"), 0o644)
	os.WriteFile(filepath.Join(dir, "adapter_config.json"), []byte(`{"base_model_name_or_path": "/elsewhere"}`), 0o644)
	card, err := CardFromRun(dir)
	if err != nil {
		t.Fatal(err)
	}
	if card.BaseModel != "Qwen/Qwen2.5-0.5B" || !reflect.DeepEqual(card.Datasets, []string{"org/pairs"}) || !card.Adapter {
		t.Fatalf("card %+v", card)
	}
	if md := string(card.Markdown()); !strings.Contains(md, "library_name: peft") || !strings.Contains(md, `- "base_model:adapter:Qwen/Qwen2.5-0.5B"`) {
		t.Errorf("adapter card:\n%s", md)
	}
	for _, tc := range []struct {
		readme   string
		replaced bool
	}{{"# mine\n", false}, {"# LoRA adapter\n\nA LoRA adapter in PEFT's format, written by smaug: r = 4\n", true}} {
		f := newFakeHub(t)
		os.WriteFile(filepath.Join(dir, "README.md"), []byte(tc.readme), 0o644)
		if _, err := f.client(t).Push(context.Background(), dir, "org/new", PushOptions{Card: card}); err != nil {
			t.Fatal(err)
		}
		commit := string(f.calls[len(f.calls)-1].Body)
		sent := base64.StdEncoding.EncodeToString([]byte(tc.readme))
		if strings.Contains(commit, sent) == tc.replaced || strings.Count(commit, `"path":"README.md"`) != 1 {
			t.Errorf("README %q: replaced should be %v; commit %s", tc.readme, tc.replaced, commit)
		}
	}
}

// TestFiles: Files lists a revision's matching files without downloading
// them, asks the hub once and then answers from the cached ref and listing
// (also offline); offline, an unlisted revision is ErrOffline.
func TestFiles(t *testing.T) {
	f := newFakeHub(t)
	f.add("dataset", "org/bench", commitB, map[string][]byte{
		"README.md":                              []byte("# bench\n"),
		"cfg/test-00000-of-00001.parquet":        []byte("t"),
		"cfg/train-00000-of-00001.parquet":       []byte("tr"),
		"other/test-00000-of-00001.parquet":      []byte("o"),
		"cfg/nested/test-00000-of-00001.parquet": []byte("n"),
	})
	c := f.client(t)
	ctx := context.Background()
	got, err := c.Files(ctx, Dataset, "org/bench", "", []string{"cfg/test-*.parquet", "cfg/*/test-*.parquet"})
	want := []string{"cfg/nested/test-00000-of-00001.parquet", "cfg/test-00000-of-00001.parquet"}
	if err != nil || !reflect.DeepEqual(got, want) {
		t.Fatalf("Files = %v, %v; want %v", got, err, want)
	}
	if entries, _ := os.ReadDir(filepath.Join(c.Cache, "datasets--org--bench", "snapshots")); len(entries) != 0 {
		t.Error("Files downloaded files")
	}
	n := f.requestCount()
	// By branch and by commit: the cached ref and listing, no request,
	// also offline.
	c.Offline = true
	for _, rev := range []string{"main", commitB} {
		if got, err := c.Files(ctx, Dataset, "org/bench", rev, []string{"other/*"}); err != nil || !reflect.DeepEqual(got, []string{"other/test-00000-of-00001.parquet"}) {
			t.Errorf("cached listing at %s: %v, %v", rev, got, err)
		}
	}
	if f.requestCount() != n {
		t.Error("a cached listing was asked for again")
	}
	if _, err := c.Files(ctx, Dataset, "org/bench", "v2", nil); !errors.Is(err, ErrOffline) {
		t.Errorf("offline, a branch never listed: %v", err)
	}
	c.Offline = false
	if _, err := c.Files(ctx, Dataset, "org/missing", "", nil); err == nil || !strings.Contains(err.Error(), "org/missing") {
		t.Errorf("missing repository: %v", err)
	}
}
