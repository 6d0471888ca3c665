package profile

import "time"

// Network power coefficients from Huang, Qian, Gerber, Mao, Sen, Spatscheck:
// "A Close Examination of Performance and Power Characteristics of 4G LTE
// Networks", MobiSys 2012, Table 3/4: LTE αu = 438.39 mW/Mbps, αd = 51.97
// mW/Mbps, β = 1288.04 mW, tail ≈ 11.6 s at ≈ 1060 mW; WiFi αu = 283.17,
// αd = 137.01, β = 132.86 mW, with a negligible tail (≈ 0.24 s at ≈ 120 mW).
var (
	lte = Network{Name: "lte", RTT: Duration(60 * time.Millisecond), UpMbps: 5, DownMbps: 20, Metered: true,
		UpWattsPerMbps: 0.43839, DownWattsPerMbps: 0.05197, BaseWatts: 1.28804, TailWatts: 1.060, Tail: Duration(11600 * time.Millisecond)}
	wifi = Network{Name: "wifi", RTT: Duration(20 * time.Millisecond), UpMbps: 20, DownMbps: 50, Metered: false,
		UpWattsPerMbps: 0.28317, DownWattsPerMbps: 0.13701, BaseWatts: 0.13286, TailWatts: 0.120, Tail: Duration(240 * time.Millisecond)}
)

// dramJoulesPerByte: Horowitz, "Computing's Energy Problem", ISSCC 2014: a
// 64-bit DRAM access costs 1.3–2.6 nJ, i.e. about 20–40 pJ/bit; 160 pJ/byte
// (20 pJ/bit) is the low end, representative of LPDDR4X.
const dramJoulesPerByte = 160e-12

// Builtin returns the built-in profiles, fresh copies each call.
//
// CPU active power per core is an approximation, stated as such: a
// big core of a 2018–2020 flagship phone (Cortex-A76/A77 class at 2.6 GHz)
// draws on the order of 1.5 W under a sustained single-threaded load
// (AnandTech's SPEC2006 measurements of the Kirin 980, Mate 20 review, 2018,
// report platform averages of that order); mid-range cores (Cortex-A7x at
// lower clocks) about 1 W; little cores (Cortex-A55) about 0.3 W. Speed
// factors relate those devices to one core of the Zen 4 build machine the
// benchmarks run on, and are rough (qemu cannot time arm64). Every value can
// be overridden with a profile file.
func Builtin() map[string]*Profile {
	ps := []*Profile{
		{Name: "phone-low", Class: "low", Cores: 1, ArenaBytes: 4 << 20, Latency: Duration(20 * time.Millisecond),
			StorageBytes: 20 << 20, Energy: Energy{CPUActiveWatts: 0.3, DRAMJoulesPerByte: dramJoulesPerByte},
			EnergyBudgetJoules: 5e-3, SpeedFactor: 6, Networks: []Network{lte, wifi}},
		{Name: "phone-mid", Class: "mid", Cores: 1, ArenaBytes: 16 << 20, Latency: Duration(10 * time.Millisecond),
			StorageBytes: 50 << 20, Energy: Energy{CPUActiveWatts: 1.0, DRAMJoulesPerByte: dramJoulesPerByte},
			EnergyBudgetJoules: 5e-3, SpeedFactor: 3, Networks: []Network{lte, wifi}},
		{Name: "phone-high", Class: "high", Cores: 1, ArenaBytes: 64 << 20, Latency: Duration(5 * time.Millisecond),
			StorageBytes: 200 << 20, Energy: Energy{CPUActiveWatts: 1.5, DRAMJoulesPerByte: dramJoulesPerByte},
			EnergyBudgetJoules: 5e-3, SpeedFactor: 1.5, Networks: []Network{lte, wifi}},
		{Name: "server", Class: "server", Cores: 1, ArenaBytes: 1 << 30, Latency: Duration(50 * time.Millisecond),
			StorageBytes: 10 << 30, Energy: Energy{CPUActiveWatts: 5, DRAMJoulesPerByte: dramJoulesPerByte},
			SpeedFactor: 1},
	}
	m := make(map[string]*Profile, len(ps))
	for _, p := range ps {
		p.Networks = append([]Network(nil), p.Networks...)
		m[p.Name] = p
	}
	return m
}
