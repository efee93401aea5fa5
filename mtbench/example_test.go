package mtbench_test

import (
	"context"
	"log"
	"os"

	"github.com/smaug-dev/smaug/mtbench"
)

// Judging one model's answers with GPT-4 and printing the scores, as
// smaug mtbench judge does.
func Example() {
	dir := "data/mt_bench"
	qs, err := mtbench.ReadQuestions(dir + "/question.jsonl")
	if err != nil {
		log.Fatal(err)
	}
	prompts, err := mtbench.ReadJudgePrompts(dir + "/judge_prompts.jsonl")
	if err != nil {
		log.Fatal(err)
	}
	refs, err := mtbench.ReadAnswers(dir + "/reference_answer/gpt-4.jsonl")
	if err != nil {
		log.Fatal(err)
	}
	answers, err := mtbench.ReadAnswers(dir + "/model_answer/smaug-tuned.jsonl")
	if err != nil {
		log.Fatal(err)
	}
	out := dir + "/model_judgment/gpt-4_single.jsonl"
	_, err = mtbench.RunJudge(context.Background(), mtbench.JudgeConfig{
		Client:     &mtbench.Client{BaseURL: "https://api.openai.com/v1", APIKey: os.Getenv("OPENAI_API_KEY")},
		JudgeModel: "gpt-4", Questions: qs, References: refs, Prompts: prompts,
		Answers: []mtbench.ModelAnswers{{Model: "smaug-tuned", Answers: answers}}, Output: out,
	})
	if err != nil {
		log.Fatal(err)
	}
	judgments, err := mtbench.ReadJudgments(out)
	if err != nil {
		log.Fatal(err)
	}
	mtbench.Summarize(judgments, qs).WriteTable(os.Stdout)
}
