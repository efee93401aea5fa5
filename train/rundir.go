package train

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strconv"
	"strings"
)

// This file owns the run folder as a whole: which folder a run writes to
// (a resumed run continues where its checkpoint is), the checks that keep
// one run from writing over another run or over a model, the exclusive
// lock held while a trainer uses the folder, the removal of smaug's own
// temporary files left by a kill, and the removal of a folder a run
// created but never made a step in.

// LockFile is the name of the lock file in a run folder while a trainer
// holds it. It holds the holder's process id; the lock itself is an
// operating-system lock, released by the kernel when the holder dies, so a
// lock file left by a killed process is taken over.
const LockFile = ".smaug.lock"

// FolderProblem is why a folder cannot be a run's output.
type FolderProblem int

// The reasons a run folder is refused.
const (
	// InUse: another live process holds the folder's lock (RunFolderError.PID).
	InUse FolderProblem = iota + 1
	// HoldsRun: the folder holds another run (RunFolderError.Holds).
	HoldsRun
	// NotEmpty: the folder holds files that are not a run (RunFolderError.Holds).
	NotEmpty
	// IsModel: the folder is a model folder (config.json and weights), not a run.
	IsModel
	// InsideInput: the folder is, or is inside, a model folder the run
	// reads (Model, RefModel), or is the folder of its Tokenizer or
	// InitConfig (RunFolderError.Field names it).
	InsideInput
	// HoldsInput: emptying the folder (OverwriteOutput) would delete an
	// input of the run that lies inside it (RunFolderError.Field).
	HoldsInput
	// Unwritable: the folder cannot be created or written (RunFolderError.Err).
	Unwritable
)

// RunFolderError is a run folder refused before any work is done. Its
// message names Config fields; the command line words it in flags.
type RunFolderError struct {
	// Dir is the run folder.
	Dir string
	// Problem is why it is refused.
	Problem FolderProblem
	// PID is the process holding the folder (InUse).
	PID int
	// Holds lists some of what the folder holds (HoldsRun, NotEmpty).
	Holds []string
	// Field is the Config field of the input concerned (InsideInput,
	// HoldsInput) and Path its value.
	Field, Path string
	// Err is the underlying error (Unwritable).
	Err error
}

func (e *RunFolderError) Error() string {
	switch e.Problem {
	case InUse:
		holder := "another training process"
		if e.PID > 0 {
			holder += fmt.Sprintf(" (pid %d)", e.PID)
		}
		return fmt.Sprintf("run folder %s is in use by %s: wait for it to end, or choose another Output", e.Dir, holder)
	case HoldsRun:
		return fmt.Sprintf("run folder %s holds another run (%s): continue it with Resume, choose another Output, or set OverwriteOutput to empty it first", e.Dir, strings.Join(e.Holds, ", "))
	case NotEmpty:
		return fmt.Sprintf("run folder %s is not empty (%s): choose another Output, or set OverwriteOutput to empty it first", e.Dir, strings.Join(e.Holds, ", "))
	case IsModel:
		return fmt.Sprintf("run folder %s is a model folder (config.json and weights), not a run: training would replace its weights; choose another Output", e.Dir)
	case InsideInput:
		if sameOrInside(e.Path, e.Dir) {
			return fmt.Sprintf("run folder %s is the %s folder: training would replace its files; choose an Output outside it", e.Dir, e.Field)
		}
		return fmt.Sprintf("run folder %s is inside the %s folder %s: training would write among its files; choose an Output outside it", e.Dir, e.Field, e.Path)
	case HoldsInput:
		return fmt.Sprintf("run folder %s holds the %s input %s: emptying it (OverwriteOutput) would delete it; choose another Output", e.Dir, e.Field, e.Path)
	case Unwritable:
		return fmt.Sprintf("run folder %s cannot be written: %v", e.Dir, e.Err)
	}
	return fmt.Sprintf("run folder %s refused", e.Dir)
}

func (e *RunFolderError) Unwrap() error { return e.Err }

// RunFolder returns the folder a run with cfg writes to: Output, or, when
// Output is empty and Resume is set, the run folder of Resume (Resume
// itself, or the folder holding the checkpoint folder Resume names). A
// resumed run thus continues where its checkpoint is, whatever output
// config.yaml recorded: a moved or copied run continues in its new place.
func RunFolder(cfg Config) (string, error) {
	if cfg.Output != "" || cfg.Resume == "" {
		return cfg.Output, nil
	}
	ck, err := FindCheckpoint(cfg.Resume)
	if err != nil {
		return "", err
	}
	return filepath.Dir(filepath.Clean(ck)), nil
}

// CheckRunFolder reports a run folder that New would refuse: an output
// inside an input, a model folder, a folder in use or holding another run,
// or one that cannot be created or written. It writes nothing (but removes
// the lock file of a dead holder in a refused folder). It lets a caller
// refuse before loading data; New checks again under the folder's lock.
func CheckRunFolder(cfg Config) error {
	dir, err := RunFolder(cfg)
	if err != nil {
		return err
	}
	cfg.Output = dir
	if err := checkInputs(cfg); err != nil {
		return err
	}
	var resume string
	if cfg.Resume != "" {
		if resume, err = FindCheckpoint(cfg.Resume); err != nil {
			return err
		}
	}
	if _, err := os.Stat(dir); err == nil && !(resume != "" && sameOrInside(resume, dir)) {
		if err := checkContents(cfg, false); err != nil {
			return inUseFirst(dir, err)
		}
	}
	return checkWritable(dir)
}

// runDir is a run folder held by a trainer.
type runDir struct {
	path    string
	created bool // this trainer created the folder
	fresh   bool // the folder was new or empty (or emptied) when opened
	lock    *folderLock
}

// openRunDir checks, creates and locks the run folder of cfg before any
// work is done. resume is the checkpoint the run continues from ("" for a
// new run); a resumed run may write into the run folder its checkpoint is
// in. On error nothing is left behind: a folder it created is removed.
func openRunDir(cfg Config, resume string, log func(string, ...any)) (_ *runDir, err error) {
	dir := cfg.Output
	if err := checkInputs(cfg); err != nil {
		return nil, err
	}
	continuing := resume != "" && sameOrInside(resume, dir)
	d := &runDir{path: dir}
	if _, err := os.Stat(dir); errors.Is(err, os.ErrNotExist) {
		d.created = true
	} else if !continuing {
		// Refuse before writing anything (the lock file) into a folder
		// that is not ours; checked again under the lock.
		if err := checkContents(cfg, false); err != nil {
			return nil, inUseFirst(dir, err)
		}
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, &RunFolderError{Dir: dir, Problem: Unwritable, Err: err}
	}
	defer func() {
		if err != nil {
			d.close(true)
		}
	}()
	if d.lock, err = lockFolder(dir); err != nil {
		return d, err
	}
	if n := removeStaleTemps(dir); n > 0 {
		log("removed %d temporary file(s) left in %s by an interrupted save", n, dir)
	}
	if continuing {
		return d, nil // continuing the run this folder holds
	}
	if err := checkContents(cfg, true); err != nil {
		return d, err
	}
	d.fresh = true
	if holds, _, _ := folderContents(dir); len(holds) > 0 {
		if err := emptyFolder(dir); err != nil {
			return d, &RunFolderError{Dir: dir, Problem: Unwritable, Err: err}
		}
		log("emptied %s (%s) to start a new run", dir, strings.Join(shortList(holds), ", "))
	}
	return d, nil
}

// inUseFirst returns the InUse error when a live process holds dir's
// lock (the more useful reason: that run is what the folder holds), and
// err otherwise.
func inUseFirst(dir string, err error) error {
	if _, statErr := os.Stat(filepath.Join(dir, LockFile)); statErr != nil {
		return err
	}
	l, lerr := lockFolder(dir)
	if l != nil {
		l.release()
	}
	var rf *RunFolderError
	if errors.As(lerr, &rf) && rf.Problem == InUse {
		return lerr
	}
	return err
}

// checkContents refuses a run folder that is a model folder, or that holds
// another run or other files when OverwriteOutput is not set. With locked,
// the folder is held and a folder that cannot be read is an error;
// otherwise such a folder is left to the check under the lock.
func checkContents(cfg Config, locked bool) error {
	dir := cfg.Output
	holds, kind, err := folderContents(dir)
	switch {
	case err != nil && locked:
		return &RunFolderError{Dir: dir, Problem: Unwritable, Err: err}
	case err != nil:
		return nil
	case kind == IsModel:
		return &RunFolderError{Dir: dir, Problem: IsModel}
	case len(holds) > 0 && !cfg.OverwriteOutput:
		return &RunFolderError{Dir: dir, Problem: kind, Holds: shortList(holds)}
	}
	return nil
}

// close releases the lock. With remove, a folder this trainer created is
// removed, and one that was empty when opened is emptied again.
func (d *runDir) close(remove bool) error {
	var err error
	if remove && d.fresh && !d.created {
		err = emptyFolder(d.path)
	}
	if d.lock != nil {
		err = errors.Join(err, d.lock.release())
		d.lock = nil
	}
	if remove && d.created {
		err = errors.Join(err, os.RemoveAll(d.path))
	}
	d.created, d.fresh = false, false
	return err
}

// checkInputs refuses an output that is, or is inside, a model folder the
// run reads, or that is the folder of its tokenizer or InitConfig (saving
// would replace their files) and, when the output is to be emptied, an
// output that holds something the run reads.
func checkInputs(cfg Config) error {
	dir := cfg.Output
	type input struct {
		field, path string
		inside      bool // an output inside the folder is refused too
	}
	folders := []input{{"Model", cfg.Model, true}, {"RefModel", cfg.RefModel, true},
		{"Tokenizer", fileFolder(cfg.Tokenizer), false}, {"InitConfig", fileFolder(cfg.InitConfig), false}}
	for _, in := range folders {
		if in.path != "" && sameOrInside(dir, in.path) && (in.inside || sameOrInside(in.path, dir)) {
			return &RunFolderError{Dir: dir, Problem: InsideInput, Field: in.field, Path: in.path}
		}
	}
	if !cfg.OverwriteOutput {
		return nil
	}
	inputs := append(folders, input{"Data", cfg.Data, false}, input{"EvalData", cfg.EvalData, false}, input{"InitConfig", cfg.InitConfig, false})
	if cfg.Resume != "" && !sameOrInside(cfg.Resume, dir) {
		inputs = append(inputs, input{"Resume", cfg.Resume, false})
	}
	for _, in := range inputs {
		if in.path != "" && sameOrInside(in.path, dir) {
			return &RunFolderError{Dir: dir, Problem: HoldsInput, Field: in.field, Path: in.path}
		}
	}
	return nil
}

// fileFolder is p when it is a folder, else the folder p is in (for
// inputs given as a folder or a file).
func fileFolder(p string) string {
	if p == "" {
		return ""
	}
	if st, err := os.Stat(p); err == nil && !st.IsDir() {
		return filepath.Dir(p)
	}
	return p
}

// sameOrInside reports whether path is dir or lies inside it, comparing
// absolute paths with symbolic links resolved.
func sameOrInside(path, dir string) bool {
	p, d := realPath(path), realPath(dir)
	if p == d {
		return true
	}
	rel, err := filepath.Rel(d, p)
	return err == nil && rel != ".." && !strings.HasPrefix(rel, ".."+string(filepath.Separator)) && !filepath.IsAbs(rel)
}

// realPath is p made absolute, with the symbolic links of its longest
// existing prefix resolved.
func realPath(p string) string {
	abs, err := filepath.Abs(p)
	if err != nil {
		return filepath.Clean(p)
	}
	rest := ""
	for cur := abs; ; {
		if r, err := filepath.EvalSymlinks(cur); err == nil {
			return filepath.Join(r, rest)
		}
		parent := filepath.Dir(cur)
		if parent == cur {
			return abs
		}
		rest = filepath.Join(filepath.Base(cur), rest)
		cur = parent
	}
}

// isTemp reports whether a run-folder entry is a temporary file smaug
// writes while saving (a checkpoint folder before its rename, or an
// atomically written file), which a kill during a save leaves behind.
func isTemp(name string) bool {
	if !strings.HasPrefix(name, ".") {
		return false
	}
	if n, ok := strings.CutPrefix(name, ".checkpoint-"); ok {
		if s, ok := strings.CutSuffix(n, ".tmp"); ok {
			_, err := strconv.Atoi(s)
			return err == nil
		}
	}
	return strings.Contains(name, ".tmp-")
}

// removeStaleTemps removes smaug's temporary files from dir (and from its
// checkpoint folders) and returns how many it removed. It runs with the
// folder locked, so no live save owns them.
func removeStaleTemps(dir string) int {
	n := 0
	entries, _ := os.ReadDir(dir)
	for _, e := range entries {
		switch {
		case isTemp(e.Name()):
			if os.RemoveAll(filepath.Join(dir, e.Name())) == nil {
				n++
			}
		case e.IsDir() && strings.HasPrefix(e.Name(), "checkpoint-"):
			sub, _ := os.ReadDir(filepath.Join(dir, e.Name()))
			for _, s := range sub {
				if isTemp(s.Name()) && os.RemoveAll(filepath.Join(dir, e.Name(), s.Name())) == nil {
					n++
				}
			}
		}
	}
	return n
}

// folderContents lists what dir holds besides the lock file and says what
// it is: HoldsRun for a run (config.yaml, metrics.jsonl, a checkpoint),
// IsModel for a model folder (config.json with weights), NotEmpty
// otherwise.
func folderContents(dir string) ([]string, FolderProblem, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, 0, err
	}
	var holds []string
	run, config, weights := false, false, false
	for _, e := range entries {
		name := e.Name()
		if name == LockFile {
			continue
		}
		holds = append(holds, name)
		switch {
		case name == "config.yaml" || name == "metrics.jsonl" || name == "trainer_state.json" || e.IsDir() && strings.HasPrefix(name, "checkpoint-"):
			run = true
		case name == "config.json" || name == "adapter_config.json":
			config = true
		case strings.HasSuffix(name, ".safetensors") || strings.HasSuffix(name, ".safetensors.index.json"):
			weights = true
		}
	}
	switch {
	case run:
		return holds, HoldsRun, nil
	case config && weights:
		return holds, IsModel, nil
	}
	return holds, NotEmpty, nil
}

// shortList keeps the first few names of a folder listing, those that
// show a run first (checkpoints, the final weights, metrics.jsonl,
// config.yaml), in name order within each group.
func shortList(names []string) []string {
	rank := func(n string) int {
		switch {
		case strings.HasPrefix(n, "checkpoint-"):
			return 0
		case n == "model.safetensors" || n == "model.safetensors.index.json" || n == "adapter_model.safetensors":
			return 1
		case n == "metrics.jsonl" || n == "config.yaml":
			return 2
		}
		return 3
	}
	names = slices.Clone(names)
	sort.SliceStable(names, func(i, j int) bool {
		if ri, rj := rank(names[i]), rank(names[j]); ri != rj {
			return ri < rj
		}
		return names[i] < names[j]
	})
	if len(names) > 5 {
		return append(names[:5:5], fmt.Sprintf("and %d more", len(names)-5))
	}
	return names
}

// emptyFolder removes everything in dir but the lock file.
func emptyFolder(dir string) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	for _, e := range entries {
		if e.Name() == LockFile {
			continue
		}
		if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
			return err
		}
	}
	return nil
}

// checkpointSteps returns the steps of dir's complete checkpoint-N folders
// (those holding trainer_state.json), in increasing order.
func checkpointSteps(dir string) []int {
	entries, _ := os.ReadDir(dir)
	var steps []int
	for _, e := range entries {
		n, ok := strings.CutPrefix(e.Name(), "checkpoint-")
		if !ok || !e.IsDir() {
			continue
		}
		if _, err := os.Stat(filepath.Join(dir, e.Name(), "trainer_state.json")); err != nil {
			continue // not a checkpoint smaug wrote whole
		}
		if s, err := strconv.Atoi(n); err == nil {
			steps = append(steps, s)
		}
	}
	sort.Ints(steps)
	return steps
}

// rotateCheckpoints removes the oldest checkpoints of dir beyond the newest
// limit (limit 0: keep all), as the HF Trainer's save_total_limit.
func rotateCheckpoints(dir string, limit int, log func(string, ...any)) error {
	steps := checkpointSteps(dir)
	if limit <= 0 || len(steps) <= limit {
		return nil
	}
	for _, s := range steps[:len(steps)-limit] {
		p := filepath.Join(dir, fmt.Sprintf("checkpoint-%d", s))
		if err := os.RemoveAll(p); err != nil {
			return fmt.Errorf("remove old checkpoint: %w", err)
		}
		log("removed %s (keeping the newest %d checkpoints)", p, limit)
	}
	return nil
}
