package main

import (
	"errors"
	"strings"

	"github.com/smaug-dev/smaug/train"
)

// runFolderTerms puts the advice in train's run-folder and divergence
// errors in the command's terms (only these fixed phrases: the rest of the
// message quotes paths).
var runFolderTerms = strings.NewReplacer(
	"continue it with Resume", "continue it with --resume",
	"choose another Output", "choose another --output",
	"choose an Output outside it", "choose an --output outside it",
	"set OverwriteOutput to empty it first", "pass --overwrite-output-dir to empty it first",
	"emptying it (OverwriteOutput)", "emptying it (--overwrite-output-dir)",
	"lower the learning rate (or warm it up over more steps, or clip gradients harder)",
	"lower the learning rate (--lr; or warm it up over more steps, --warmup-steps, or clip gradients harder, --max-grad-norm)",
)

// inputFlag maps the train.Config fields a RunFolderError names as inputs
// to their flags.
var inputFlag = map[string]string{"Model": "--model", "RefModel": "--ref-model", "Tokenizer": "--tokenizer",
	"InitConfig": "--init-config", "Data": "--data", "EvalData": "--eval-data", "Resume": "--resume"}

// inTrainTerms rewords a *train.RunFolderError or *train.DivergedError in
// flags; other errors pass unchanged.
func inTrainTerms(err error) error {
	var rf *train.RunFolderError
	var dv *train.DivergedError
	switch {
	case errors.As(err, &rf):
		msg := err.Error()
		if f, ok := inputFlag[rf.Field]; ok {
			msg = strings.Replace(msg, "the "+rf.Field+" ", "the "+f+" ", 1)
		}
		return &flagError{runFolderTerms.Replace(msg), err}
	case errors.As(err, &dv):
		return &flagError{runFolderTerms.Replace(err.Error()), err}
	}
	return err
}
