package eval

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"

	"github.com/smaug-dev/smaug/hub"
)

// HubDataset names a task's data on the Hugging Face hub: a dataset
// repository, the folder of one of its configs, and a revision.
type HubDataset struct {
	// Repo is the dataset's id, ORG/NAME.
	Repo string
	// Folder is the config's folder in the repository (ARC-Challenge,
	// all, main, ...), as the hub lays configs out
	// (FOLDER/SPLIT-00000-of-00001.parquet); "" reads the whole
	// repository (data/SPLIT-*.parquet, SPLIT.jsonl, ...).
	Folder string
	// Revision is a branch, tag or commit. "" is main, or, when main holds
	// no data file of the task's splits (a dataset still defined by a
	// loading script), the hub's parquet conversion ParquetRevision.
	Revision string
}

// ParquetRevision is the branch holding the hub's parquet conversion of a
// dataset, laid out CONFIG/SPLIT/0000.parquet.
const ParquetRevision = "refs/convert/parquet"

// String writes d in the syntax ParseHubDataset reads.
func (d HubDataset) String() string {
	s := d.Repo
	if d.Revision != "" {
		s += "@" + strings.ReplaceAll(d.Revision, "/", "%2F")
	}
	if d.Folder != "" {
		s += "/" + d.Folder
	}
	return s
}

// revisionWithSlash matches the hub's revisions that hold a "/":
// refs/convert/parquet and pull-request refs.
var revisionWithSlash = regexp.MustCompile(`^(refs/convert/parquet|refs/pr/[0-9]+)(/|$)`)

// ParseHubDataset reads ORG/NAME[@REVISION][/FOLDER] — huggingface_hub's
// hf:// path syntax, whose "hf://datasets/" prefix may be written — as in
// allenai/ai2_arc/ARC-Challenge, cais/mmlu@main/all or
// Rowan/hellaswag@refs%2Fconvert%2Fparquet/default. A revision holding "/"
// is written with %2F, as huggingface_hub writes it (refs/convert/parquet
// and refs/pr/N may also be written plainly).
func ParseHubDataset(s string) (HubDataset, error) {
	rest := strings.TrimPrefix(strings.TrimPrefix(s, "hf://"), "datasets/")
	parts := strings.SplitN(rest, "/", 2)
	if len(parts) != 2 || parts[0] == "" || parts[1] == "" {
		return HubDataset{}, fmt.Errorf("%q is not a hub dataset (ORG/NAME[@REVISION][/FOLDER])", s)
	}
	org, rest := parts[0], parts[1]
	var d HubDataset
	name, after, hasRev := strings.Cut(rest, "@")
	if hasRev {
		if strings.Contains(name, "/") {
			return HubDataset{}, fmt.Errorf("%q is not a hub dataset: the @REVISION goes right after ORG/NAME", s)
		}
		if m := revisionWithSlash.FindStringSubmatch(after); m != nil {
			d.Revision, d.Folder = m[1], strings.TrimPrefix(after[len(m[1]):], "/")
		} else {
			rev, folder, _ := strings.Cut(after, "/")
			r, err := url.PathUnescape(rev)
			if err != nil || r == "" {
				return HubDataset{}, fmt.Errorf("%q: revision %q is not valid", s, rev)
			}
			d.Revision, d.Folder = r, folder
		}
	} else {
		name, d.Folder, _ = strings.Cut(rest, "/")
	}
	d.Repo = org + "/" + name
	d.Folder = strings.Trim(d.Folder, "/")
	if !hub.ValidRepoID(d.Repo) {
		return HubDataset{}, fmt.Errorf("%q: %q is not a hub repository id (ORG/NAME)", s, d.Repo)
	}
	for _, part := range strings.Split(d.Folder, "/") {
		if part == "." || part == ".." {
			return HubDataset{}, fmt.Errorf("%q: folder %q leaves the repository", s, d.Folder)
		}
	}
	return d, nil
}

// DefaultDatasets are the datasets lm-evaluation-harness b281b09 reads, by
// task, under their current hub names, with the folder of the config it
// reads. The layouts (seen on the hub's file listings): allenai/ai2_arc
// ARC-Challenge/{train,validation,test}-00000-of-00001.parquet;
// cais/mmlu all/{dev,validation,test,auxiliary_train}-00000-of-00001.parquet
// with a subject column (one folder per subject beside it);
// truthfulqa/truthful_qa multiple_choice/validation-00000-of-00001.parquet
// (question, mc1_targets and mc2_targets {choices, labels});
// allenai/winogrande winogrande_xl/{train,validation,test}-00000-of-00001.parquet;
// openai/gsm8k main/{train,test}-00000-of-00001.parquet. Rowan/hellaswag's
// main branch held only a loading script when its listing was last seen (a
// parquet conversion, data/{train,validation,test}-00000-of-00001.parquet,
// was proposed as a pull request): main is used when it holds the files,
// else ParquetRevision (default/{train,validation,test}/0000.parquet).
var DefaultDatasets = map[string]HubDataset{
	"arc_challenge":  {Repo: "allenai/ai2_arc", Folder: "ARC-Challenge"},
	"hellaswag":      {Repo: "Rowan/hellaswag"},
	"mmlu":           {Repo: "cais/mmlu", Folder: "all"},
	"truthfulqa_mc2": {Repo: "truthfulqa/truthful_qa", Folder: "multiple_choice"},
	"winogrande":     {Repo: "allenai/winogrande", Folder: "winogrande_xl"},
	"gsm8k":          {Repo: "openai/gsm8k", Folder: "main"},
}

// hubSplits are the splits a task reads from a hub dataset: the scored
// split the harness uses and the few-shot pool (none for TruthfulQA,
// whose examples are a fixed preamble).
func hubSplits(name string) []string {
	switch name {
	case "hellaswag", "winogrande":
		return []string{"validation", "train"}
	case "truthfulqa_mc2":
		return []string{"validation"}
	case "mmlu":
		return []string{"test", "dev"}
	}
	return []string{"test", "train"}
}

// hubInclude selects the data files of splits under folder, in the hub's
// layouts (those hubShards reads): FOLDER/SPLIT-*.parquet (also deeper,
// data/SPLIT-*), FOLDER/SPLIT/*.parquet (the parquet conversion),
// FOLDER/*-SPLIT.parquet (its older names) and FOLDER/SPLIT.jsonl, for
// each data file type.
func hubInclude(folder string, splits []string) []string {
	p := ""
	if folder != "" {
		p = folder + "/"
	}
	var out []string
	for _, s := range splits {
		for _, ext := range dataExts {
			out = append(out, p+s+ext, p+s+"-*"+ext, p+s+"/*"+ext, p+"*/"+s+"-*"+ext, p+"*/"+s+"/*"+ext, p+"*-"+s+ext)
		}
	}
	return out
}

// FetchHub returns a local folder holding task name's data from the hub
// dataset d, which Load reads: the files of the splits the task reads,
// from c's cache when there (no request), else downloaded into it.
// progress, when set, receives the bytes done and the total. Offline
// (c.Offline) or without a network, an uncached dataset is an error.
func FetchHub(ctx context.Context, c *hub.Client, name string, d HubDataset, progress func(done, total int64)) (string, error) {
	if _, ok := DefaultShots(name); !ok {
		return "", fmt.Errorf("unknown task %q (known: arc_challenge, hellaswag, mmlu, truthfulqa_mc2, winogrande, gsm8k)", name)
	}
	if def, ok := DefaultDatasets[name]; ok && d.Folder == "" && d.Repo == def.Repo {
		d.Folder = def.Folder // the harness's config of its own dataset
	}
	splits := hubSplits(name)
	include := hubInclude(d.Folder, splits)
	revs := []string{d.Revision}
	if d.Revision == "" {
		revs = []string{hub.DefaultRevision, ParquetRevision}
	}
	var firstErr error
	for _, rev := range revs {
		files, err := c.Files(ctx, hub.Dataset, d.Repo, rev, include)
		if err != nil {
			if firstErr == nil {
				firstErr = err
			}
			continue
		}
		if len(files) == 0 {
			continue
		}
		dir, err := c.Resolve(ctx, d.Repo, hub.PullOptions{Type: hub.Dataset, Revision: rev, Include: include, Progress: progress})
		if err != nil {
			return "", fmt.Errorf("task %s: dataset %s: %w", name, d, err)
		}
		return filepath.Join(dir, filepath.FromSlash(d.Folder)), nil
	}
	if firstErr != nil {
		return "", fmt.Errorf("task %s: dataset %s: %w", name, d, firstErr)
	}
	where := "the repository"
	if d.Folder != "" {
		where = "folder " + d.Folder
	}
	return "", fmt.Errorf("task %s: dataset %s: %s holds no file of split %s (want %s-00000-of-00001.parquet, %s/0000.parquet or %s.jsonl)",
		name, d, where, strings.Join(splits, " or "), splits[0], splits[0], splits[0])
}

// Source is where one task's data comes from: a local file or folder, or a
// hub dataset.
type Source struct {
	// Path is a local file or folder ("" for a hub dataset).
	Path string
	// Hub is the hub dataset when Path is "".
	Hub HubDataset
}

// String names the source.
func (s Source) String() string {
	if s.Path != "" {
		return s.Path
	}
	return "hub dataset " + s.Hub.String()
}

// dataFileExts end names of data files, which are never hub ids.
var dataFileExts = []string{".jsonl", ".json", ".parquet", ".csv", ".txt", ".gz", ".bz2"}

// TaskSources decides where each task's data come from, first match wins:
// data[task], an existing local file or folder, else a hub dataset
// ORG/NAME[@REVISION][/FOLDER] (ParseHubDataset); dataDir/<task>
// (dataDir/truthfulqa is accepted for truthfulqa_mc2) when dataDir is set;
// else the task's own dataset, DefaultDatasets[task].
func TaskSources(names []string, dataDir string, data map[string]string) (map[string]Source, error) {
	out := map[string]Source{}
	for _, n := range names {
		if p, ok := data[n]; ok {
			s, err := sourceOf(p)
			if err != nil {
				return nil, fmt.Errorf("task %s: %w", n, err)
			}
			out[n] = s
			continue
		}
		if dataDir == "" {
			def, ok := DefaultDatasets[n]
			if !ok {
				return nil, fmt.Errorf("unknown task %q (known: arc_challenge, hellaswag, mmlu, truthfulqa_mc2, winogrande, gsm8k)", n)
			}
			out[n] = Source{Hub: def}
			continue
		}
		cands := []string{filepath.Join(dataDir, n)}
		if n == "truthfulqa_mc2" {
			cands = append(cands, filepath.Join(dataDir, "truthfulqa"))
		}
		found := false
		for _, c := range cands {
			if _, err := os.Stat(c); err == nil {
				out[n], found = Source{Path: c}, true
				break
			}
		}
		if !found {
			return nil, fmt.Errorf("task %s: %s does not exist (give the task's own path, or no data folder to read its dataset from the hub)", n, cands[0])
		}
	}
	for n := range data {
		if _, ok := out[n]; !ok {
			return nil, fmt.Errorf("data given for task %s, which is not evaluated", n)
		}
	}
	return out, nil
}

// sourceOf reads one task's data argument: an existing path, else a hub
// dataset.
func sourceOf(arg string) (Source, error) {
	if _, err := os.Stat(arg); err == nil {
		return Source{Path: arg}, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return Source{}, err
	}
	notHub := strings.HasPrefix(arg, ".") || strings.HasPrefix(arg, "/") || strings.HasPrefix(arg, "~")
	for _, e := range dataFileExts {
		notHub = notHub || strings.HasSuffix(strings.ToLower(arg), e)
	}
	if !notHub {
		if d, err := ParseHubDataset(arg); err == nil {
			return Source{Hub: d}, nil
		}
	}
	return Source{}, fmt.Errorf("%s: no such file or folder, and not a hub dataset (ORG/NAME[@REVISION][/FOLDER])", arg)
}

// Fetch returns a local path for a task's source: its Path, or the folder
// FetchHub gives for its hub dataset.
func (s Source) Fetch(ctx context.Context, c *hub.Client, name string, progress func(done, total int64)) (string, error) {
	if s.Path != "" {
		return s.Path, nil
	}
	return FetchHub(ctx, c, name, s.Hub, progress)
}
