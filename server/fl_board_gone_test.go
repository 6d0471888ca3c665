package server

import (
	"path/filepath"
	"slices"
	"testing"
	"time"

	"github.com/sextant-ml/sextant/store"
)

// TestFLBoardGone: the leader's poll of a task's board (taskBoard.Gone)
// returns the seats whose devices left through any replica, and only
// those of its task and attempt.
func TestFLBoardGone(t *testing.T) {
	ctx := t.Context()
	db, err := store.Open(ctx, "sqlite:"+filepath.Join(t.TempDir(), "sextant.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	now := time.Now()
	for _, task := range []string{"courier", "eta"} {
		if err := db.PublishFLRound(ctx, store.FLRound{Task: task, Attempt: 1, Open: true, SelectionEnd: now.Add(time.Hour), View: []byte(`{}`)}); err != nil {
			t.Fatal(err)
		}
		for _, d := range []string{"a", "b", "c"} {
			if _, err := db.CheckInFL(ctx, task, 1, d, "h", now); err != nil {
				t.Fatal(err)
			}
		}
	}
	tb := taskBoard{b: db, task: "courier"}
	if gone, err := tb.Gone(ctx, 1); err != nil || len(gone) != 0 {
		t.Fatalf("nobody left: %v %v", gone, err)
	}
	for _, l := range []struct {
		task string
		id   uint32
	}{{"courier", 3}, {"courier", 1}, {"eta", 2}} {
		if err := db.LeaveFL(ctx, l.task, 1, l.id); err != nil {
			t.Fatal(err)
		}
	}
	if gone, err := tb.Gone(ctx, 1); err != nil || !slices.Equal(gone, []uint32{1, 3}) {
		t.Fatalf("gone %v %v, want [1 3]", gone, err)
	}
	if gone, err := tb.Gone(ctx, 2); err != nil || len(gone) != 0 {
		t.Fatalf("another attempt: %v %v", gone, err)
	}
}
