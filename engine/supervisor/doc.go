// Package supervisor starts a game's processes, watches them and restarts
// those that crash or hang, as an Erlang/OTP supervisor or suture does:
// a ChildSpec per child (restart policy, hang and start timeouts, a hot
// standby), backoff with jitter, a decaying failure score. It publishes
// the status of every child on the channel StatusChannel(instance), a
// slice of StatusSchema that renderers and tools read like any other.
//
// It is the supervising side of package engine: a child runs
// engine.Run (or a main of its own), which takes a standby's line
// (engine.StandbyEnv) and beats the heartbeat the supervisor watches.
package supervisor
