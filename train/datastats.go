package train

import (
	"encoding/json"
	"github.com/smaug-dev/smaug/internal/atomicfile"
	"path/filepath"
)

// DataStatsFile is the file in the run folder that records what loading
// the training data did.
const DataStatsFile = "data_stats.json"

// writeLoadStats writes the training data's LoadStats (rows read, bad rows
// skipped and the first reasons, prompts and completions truncated) into
// the run folder.
func (t *Trainer) writeLoadStats() error {
	b, err := json.MarshalIndent(t.LoadStats, "", "  ")
	if err != nil {
		return err
	}
	return atomicfile.WriteFile(filepath.Join(t.Cfg.Output, DataStatsFile), append(b, '\n'))
}
