package store

// Opener opens the state file; each call returns a DB its caller closes.
//
// bbolt locks the file for as long as it is open, so a long-running program
// that shares the state file with other processes (esn receive and esn
// sessions in another terminal, say) opens it for each operation through an
// Opener and closes it at once, rather than holding one [DB].
type Opener func() (*DB, error)

// Update opens the file, runs fn in a read-write transaction (see
// [DB.Update]) and closes the file. The error of fn, else that of closing,
// is returned.
func (o Opener) Update(fn func(*Tx) error) error { return o.do((*DB).Update, fn) }

// View opens the file, runs fn in a read-only transaction (see [DB.View])
// and closes the file.
func (o Opener) View(fn func(*Tx) error) error { return o.do((*DB).View, fn) }

func (o Opener) do(run func(*DB, func(*Tx) error) error, fn func(*Tx) error) error {
	db, err := o()
	if err != nil {
		return err
	}
	err = run(db, fn)
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	return err
}
