package tokjson

import (
	"reflect"
	"testing"
)

// TestMerges checks the merge order on a hand-worked vocabulary: merged
// pieces by score (highest first), each piece's splits by the ids of their
// halves.
func TestMerges(t *testing.T) {
	pieces := []string{"▁", "a", "b", "c", "ab", "bc", "abc", "▁a"}
	scores := []float32{0, 0, 0, 0, -1, -2, -3, -0.5}
	got := Merges(pieces, scores)
	want := [][2]string{{"▁", "a"}, {"a", "b"}, {"b", "c"}, {"a", "bc"}, {"ab", "c"}}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("merges %v, want %v", got, want)
	}
}
