package hf

import (
	"encoding/json"
	"errors"
	"fmt"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"io"
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
)

// File names of a Hugging Face model folder.
const (
	ConfigFile           = "config.json"
	GenerationConfigFile = "generation_config.json"
	SafetensorsFile      = "model.safetensors"
	SafetensorsIndexFile = "model.safetensors.index.json"
)

// Checkpoint is a model folder: config.json plus model.safetensors, or
// shards listed by model.safetensors.index.json. Its shards stay mapped
// until Close.
type Checkpoint struct {
	Config *Config
	// Dir is the folder it was opened from.
	Dir string

	files []*File
	where map[string]*File // tensor name → the shard holding it
	names []string         // sorted
}

// OpenCheckpoint loads dir/config.json and maps the weights:
// model.safetensors when present, else the shards of
// model.safetensors.index.json (the order transformers uses). Every tensor
// of the index's weight_map must be in the shard it names.
func OpenCheckpoint(dir string) (*Checkpoint, error) {
	cfg, err := LoadConfig(filepath.Join(dir, ConfigFile))
	if err != nil {
		return nil, fmt.Errorf("open checkpoint %s: %w", dir, err)
	}
	c := &Checkpoint{Config: cfg, Dir: dir, where: map[string]*File{}}
	if _, err = os.Stat(filepath.Join(dir, SafetensorsFile)); err == nil {
		err = c.openSingle()
	} else {
		var weightMap map[string]string
		weightMap, err = readIndex(filepath.Join(dir, SafetensorsIndexFile))
		switch {
		case errors.Is(err, fs.ErrNotExist):
			err = fmt.Errorf("no %s or %s in the folder", SafetensorsFile, SafetensorsIndexFile)
		case err == nil:
			err = c.openShards(weightMap)
		}
	}
	if err != nil {
		c.Close()
		return nil, fmt.Errorf("open checkpoint %s: %w", dir, err)
	}
	c.names = make([]string, 0, len(c.where))
	for name := range c.where {
		c.names = append(c.names, name)
	}
	slices.Sort(c.names)
	return c, nil
}

func (c *Checkpoint) openSingle() error {
	f, err := OpenSafetensors(filepath.Join(c.Dir, SafetensorsFile))
	if err != nil {
		return err
	}
	c.files = append(c.files, f)
	for _, name := range f.Names() {
		c.where[name] = f
	}
	return nil
}

func (c *Checkpoint) openShards(weightMap map[string]string) error {
	byShard := map[string]*File{}
	for _, name := range slices.Sorted(maps.Keys(weightMap)) {
		shard := weightMap[name]
		f, ok := byShard[shard]
		if !ok {
			var err error
			if f, err = OpenSafetensors(filepath.Join(c.Dir, shard)); err != nil {
				return fmt.Errorf("%s: weight_map: %w", SafetensorsIndexFile, err)
			}
			byShard[shard] = f
			c.files = append(c.files, f)
		}
		if _, ok := f.index[name]; !ok {
			return fmt.Errorf("%s: weight_map puts tensor %q in %s, which does not hold it", SafetensorsIndexFile, name, shard)
		}
		c.where[name] = f
	}
	return nil
}

// readIndex reads the weight_map of a model.safetensors.index.json. Shard
// names must be plain file names inside the folder.
func readIndex(path string) (map[string]string, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	var idx struct {
		WeightMap map[string]string `json:"weight_map"`
	}
	if err := json.Unmarshal(data, &idx); err != nil {
		return nil, fmt.Errorf("%s: %w", path, jsonErrorWithLine(data, err))
	}
	if len(idx.WeightMap) == 0 {
		return nil, fmt.Errorf("%s: field weight_map: missing or empty", path)
	}
	for name, shard := range idx.WeightMap {
		if shard == "" || shard != filepath.Base(shard) || shard == "." || shard == ".." || strings.ContainsAny(shard, `/\`) {
			return nil, fmt.Errorf("%s: field weight_map: tensor %q: shard %q is not a file name in the folder", path, name, shard)
		}
	}
	return idx.WeightMap, nil
}

// Names returns the names of all tensors, sorted.
func (c *Checkpoint) Names() []string { return slices.Clone(c.names) }

// Has reports whether the checkpoint holds the named tensor (a model with
// tied embeddings has no lm_head.weight).
func (c *Checkpoint) Has(name string) bool {
	_, ok := c.where[name]
	return ok
}

// Tensor returns the named tensor, its Data a view of the mapped shard,
// valid until Close.
func (c *Checkpoint) Tensor(name string) (*Tensor, error) {
	f, ok := c.where[name]
	if !ok {
		return nil, fmt.Errorf("checkpoint %s: no tensor %q", c.Dir, name)
	}
	t, _ := f.Tensor(name)
	return t, nil
}

// Close unmaps all shards. Tensors obtained from the checkpoint must no
// longer be used.
func (c *Checkpoint) Close() error {
	var errs []error
	for _, f := range c.files {
		errs = append(errs, f.Close())
	}
	c.files, c.where, c.names = nil, map[string]*File{}, nil
	return errors.Join(errs...)
}

// shardPattern matches the shard names SaveCheckpoint writes.
var shardPattern = regexp.MustCompile(`^model-\d{5}-of-\d{5}\.safetensors$`)

// SaveCheckpoint writes a model folder that transformers loads: config.json
// (cfg.Save), the tensors as model.safetensors or, when their total size
// exceeds maxShardBytes (> 0), as model-0000i-of-0000n.safetensors shards
// (filled greedily in name order, a tensor never split) with
// model.safetensors.index.json, and generation_config.json with bos/eos when
// cfg knows them. cfg's dtype is written as given: keep it consistent with
// the tensors' DType.
//
// A new dir is written into a temporary folder beside it and renamed into
// place. An existing dir gets each file atomically, and weight files of the
// other layout (a stale index, model.safetensors or shards) are removed
// after the new ones are in place; only overwriting shards with shards is
// not atomic as a whole (save to a new folder for that).
func SaveCheckpoint(dir string, cfg *Config, ts []WriteTensor, maxShardBytes int64) error {
	if err := checkWriteTensors(ts); err != nil {
		return fmt.Errorf("save checkpoint %s: %w", dir, err)
	}
	cfgData, err := cfg.Marshal()
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", dir, err)
	}
	st, err := os.Stat(dir)
	switch {
	case err == nil && !st.IsDir():
		return fmt.Errorf("save checkpoint %s: not a folder", dir)
	case err == nil:
		if err := writeCheckpointFiles(dir, cfg, cfgData, ts, maxShardBytes, true); err != nil {
			return fmt.Errorf("save checkpoint %s: %w", dir, err)
		}
		return nil
	case !errors.Is(err, fs.ErrNotExist):
		return fmt.Errorf("save checkpoint %s: %w", dir, err)
	}
	parent := filepath.Dir(filepath.Clean(dir))
	tmp, err := os.MkdirTemp(parent, "."+filepath.Base(dir)+".tmp-*")
	if err != nil {
		return fmt.Errorf("save checkpoint %s: %w", dir, err)
	}
	if err := writeCheckpointFiles(tmp, cfg, cfgData, ts, maxShardBytes, false); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("save checkpoint %s: %w", dir, err)
	}
	if err := os.Chmod(tmp, 0o755); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("save checkpoint %s: %w", dir, err)
	}
	if err := os.Rename(tmp, dir); err != nil {
		os.RemoveAll(tmp)
		return fmt.Errorf("save checkpoint %s: %w", dir, err)
	}
	return nil
}

// writeCheckpointFiles writes the weights, the index, config.json and
// generation_config.json into dir; cleanup removes stale weight files.
func writeCheckpointFiles(dir string, cfg *Config, cfgData []byte, ts []WriteTensor, maxShardBytes int64, cleanup bool) error {
	shards := planShards(ts, maxShardBytes)
	keep := map[string]bool{}
	if len(shards) == 1 {
		if err := WriteSafetensors(filepath.Join(dir, SafetensorsFile), shards[0], nil); err != nil {
			return err
		}
		keep[SafetensorsFile] = true
	} else {
		weightMap := map[string]string{}
		var totalSize, totalParams int64
		for i, shard := range shards {
			name := fmt.Sprintf("model-%05d-of-%05d.safetensors", i+1, len(shards))
			if err := WriteSafetensors(filepath.Join(dir, name), shard, nil); err != nil {
				return err
			}
			keep[name] = true
			for j := range shard {
				weightMap[shard[j].Name] = name
				totalSize += shard[j].byteSize()
				totalParams += int64(len(shard[j].Data))
			}
		}
		index := map[string]any{
			"metadata":   map[string]int64{"total_parameters": totalParams, "total_size": totalSize},
			"weight_map": weightMap,
		}
		if err := writeJSON(filepath.Join(dir, SafetensorsIndexFile), index); err != nil {
			return err
		}
		keep[SafetensorsIndexFile] = true
	}
	if cleanup {
		if err := removeStaleWeights(dir, keep); err != nil {
			return err
		}
	}
	if err := atomicfile.Write(filepath.Join(dir, ConfigFile), func(w io.Writer) error {
		_, err := w.Write(cfgData)
		return err
	}); err != nil {
		return err
	}
	gen := map[string]any{}
	if cfg.BOSTokenID >= 0 {
		gen["bos_token_id"] = cfg.BOSTokenID
	}
	switch len(cfg.EOSTokenIDs) {
	case 0:
	case 1:
		gen["eos_token_id"] = cfg.EOSTokenIDs[0]
	default:
		gen["eos_token_id"] = cfg.EOSTokenIDs
	}
	if len(gen) == 0 {
		return nil
	}
	gen["_from_model_config"] = true
	return writeJSON(filepath.Join(dir, GenerationConfigFile), gen)
}

// planShards splits ts, in name order, into shards of at most maxShardBytes
// (a larger tensor gets a shard of its own); maxShardBytes <= 0 gives one.
func planShards(ts []WriteTensor, maxShardBytes int64) [][]WriteTensor {
	sorted := slices.Clone(ts)
	slices.SortFunc(sorted, func(a, b WriteTensor) int { return strings.Compare(a.Name, b.Name) })
	if maxShardBytes <= 0 {
		return [][]WriteTensor{sorted}
	}
	var shards [][]WriteTensor
	var cur []WriteTensor
	var size int64
	for _, t := range sorted {
		if len(cur) > 0 && size+t.byteSize() > maxShardBytes {
			shards = append(shards, cur)
			cur, size = nil, 0
		}
		cur = append(cur, t)
		size += t.byteSize()
	}
	return append(shards, cur)
}

// removeStaleWeights deletes weight files of dir not in keep: an old index,
// model.safetensors, or shards of an earlier save. Readers prefer
// model.safetensors, and the index goes before the shards, so a reader
// never sees an index naming missing shards.
func removeStaleWeights(dir string, keep map[string]bool) error {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	var stale []string
	if !keep[SafetensorsFile] {
		stale = append(stale, SafetensorsFile)
	}
	if !keep[SafetensorsIndexFile] {
		stale = append(stale, SafetensorsIndexFile)
	}
	for _, e := range entries {
		if name := e.Name(); !keep[name] && shardPattern.MatchString(name) {
			stale = append(stale, name)
		}
	}
	for _, name := range stale {
		if err := os.Remove(filepath.Join(dir, name)); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("remove stale %s: %w", name, err)
		}
	}
	return nil
}
