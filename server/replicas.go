package server

// InvalidateCurrents makes the next check-in reload every model's current
// version from the store. `sextant serve` on PostgreSQL calls it when
// another replica moves a current version (store.ListenChanges), so
// replicas follow each other at once instead of within CurrentTTL.
func (s *Server) InvalidateCurrents() { s.currents.invalidate() }
