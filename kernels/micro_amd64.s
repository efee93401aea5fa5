#include "textflag.h"

// One k step: broadcast A[i] and A[i+1] of the current k and multiply them
// by the 16 B values in Y0:Y1 into the accumulators of rows i and i+1.
#define ROWS(off0, off1, acc0, acc1, acc2, acc3) \
	VBROADCASTSS off0(SI), Y2 \
	VBROADCASTSS off1(SI), Y3 \
	VFMADD231PS  Y0, Y2, acc0 \
	VFMADD231PS  Y1, Y2, acc1 \
	VFMADD231PS  Y0, Y3, acc2 \
	VFMADD231PS  Y1, Y3, acc3

// Add the two accumulators of one row to C at DX and step DX to the next row.
#define STORE(acc0, acc1) \
	VADDPS  (DX), acc0, acc0 \
	VMOVUPS acc0, (DX) \
	VADDPS  32(DX), acc1, acc1 \
	VMOVUPS acc1, 32(DX) \
	ADDQ    R8, DX

// func kernel6x16AVX2(kc int, a, b, c *float32, ldc int)
TEXT ·kernel6x16AVX2(SB), NOSPLIT, $0-40
	MOVQ kc+0(FP), CX
	MOVQ a+8(FP), SI
	MOVQ b+16(FP), DI
	MOVQ c+24(FP), DX
	MOVQ ldc+32(FP), R8
	SHLQ $2, R8

	VXORPS Y4, Y4, Y4
	VXORPS Y5, Y5, Y5
	VXORPS Y6, Y6, Y6
	VXORPS Y7, Y7, Y7
	VXORPS Y8, Y8, Y8
	VXORPS Y9, Y9, Y9
	VXORPS Y10, Y10, Y10
	VXORPS Y11, Y11, Y11
	VXORPS Y12, Y12, Y12
	VXORPS Y13, Y13, Y13
	VXORPS Y14, Y14, Y14
	VXORPS Y15, Y15, Y15

loop:
	VMOVUPS (DI), Y0
	VMOVUPS 32(DI), Y1
	ROWS(0, 4, Y4, Y5, Y6, Y7)
	ROWS(8, 12, Y8, Y9, Y10, Y11)
	ROWS(16, 20, Y12, Y13, Y14, Y15)
	ADDQ $24, SI
	ADDQ $64, DI
	DECQ CX
	JNZ  loop

	STORE(Y4, Y5)
	STORE(Y6, Y7)
	STORE(Y8, Y9)
	STORE(Y10, Y11)
	STORE(Y12, Y13)
	STORE(Y14, Y15)
	VZEROUPPER
	RET
