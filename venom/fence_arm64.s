#include "textflag.h"

// The fences of the seqlocks on arm64 (see fence_arm64.go).

// func loadFence()
TEXT ·loadFence(SB), NOSPLIT|NOFRAME, $0-0
	DMB	$0x9 // DMB ISHLD: loads before it complete before loads and stores after it
	RET

// func storeFence()
TEXT ·storeFence(SB), NOSPLIT|NOFRAME, $0-0
	DMB	$0xa // DMB ISHST: stores before it are seen before stores after it
	RET
