/* bench/payloads.c - one or two realistic payloads per characteristic. Most
 * come from ../shared/vectors/ble-gatt.json; the treadmill and rower records
 * are typical FTMS flag sets written from the FTMS 1.0 field tables. A
 * characteristic the library does not decode yet is listed anyway: the
 * benchmark reports it as not decoded and measures it once it lands. */
#include "payloads.h"

static const bench_payload payloads[] = {
    {"heart rate 0x2A37 (u8 bpm)", 0x2A37, "0055"},
    {"heart rate 0x2A37 (contact, energy, 1 RR)", 0x2A37, "1E5532002100"},
    {"heart rate 0x2A37 (u16 bpm, energy, 3 RR)", 0x2A37, "1F0101320101000201FFFF"},
    {"battery 0x2A19", 0x2A19, "64"},
    {"CSC 0x2A5B (wheel + crank)", 0x2A5B, "03C80000010699E1004599"},
    {"RSC 0x2A53 (all fields)", 0x2A53, "070003125600010000F0"},
    {"cycling power 0x2A63 (power only)", 0x2A63, "00002800"},
    {"cycling power 0x2A63 (torque + crank)", 0x2A63, "2C0000009F000C00E542"},
    {"FTMS indoor bike 0x2AD2", 0x2AD2, "44029C095C004F0050"},
    {"FTMS treadmill 0x2ACD (distance, HR, elapsed)", 0x2ACD, "0405E803F401008CB400"},
    {"FTMS rower 0x2AD1 (distance, pace, power, HR)", 0x2AD1, "2C023C6400E803007800C80096"},
    {"weight 0x2A9D (SI, time, user, BMI)", 0x2A9D, "0E204EE8070C050B321B02F000D806"},
    {"weight scale feature 0x2A9E", 0x2A9E, "06010000"},
    {"body composition 0x2A9C (SI, all fields)", 0x2A9C,
     "FE0FC800E8070C050B321B01401F5802204E1027D0073A1E8813204ED806"},
    {"PLX spot-check 0x2A5E (time, status, PAI)", 0x2A5E, "0F62004800E8070C050B321B2000FF00002DF0"},
    {"PLX continuous 0x2A5F (normal only)", 0x2A5F, "0064005A00"},
    {"blood pressure 0x2A35 (mmHg, all fields)", 0x2A35, "1E8A00580078000000041114293B3C00012700"},
    {"blood pressure 0x2A35 (kPa, pulse, status)", 0x2A35, "15BDF00B009FF03C001200"},
    {"cuff pressure 0x2A36", 0x2A36, "010C00FF07FF07"},
    {"temperature 0x2A1C (FLOAT, time, type)", 0x2A1C, "06B00E00FEDC070C050B321B04"},
};

const bench_payload *bench_payloads(size_t *count)
{
    *count = sizeof(payloads) / sizeof(payloads[0]);
    return payloads;
}
