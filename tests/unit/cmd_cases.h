/*
 * cmd_cases.h - the command table: what citizens type and what it must mean
 * with the default keyword JESI. Each C() row is (bytes, expected verb); E()
 * rows are invalid input with the expected error. Byte lengths come from
 * sizeof, so NUL bytes inside a row count. Comments show non-ASCII rows as
 * they look on a phone (<ZWSP> etc. name the invisible characters).
 * 226 rows.
 */
#ifndef CMD_CASES_H
#define CMD_CASES_H

struct cmd_case {
	const char *in;
	size_t len;
	int verb;   /* enum cmd_verb */
	int rc;     /* 0 or the expected error */
};

#define C(s, v) { s, sizeof(s) - 1, v, 0 }
#define E(s, e) { s, sizeof(s) - 1, CMD_NONE, e }

static const struct cmd_case cmd_cases[] = {
	/* opt-in: the poster's form and how people really type it */
	C("JESI ON", CMD_ON),
	C("jesi on", CMD_ON),
	C("Jesi On", CMD_ON),
	C("jEsI oN", CMD_ON),
	C("JESI  ON", CMD_ON),
	C("  JESI ON  ", CMD_ON),
	C("JESI ON!!", CMD_ON),
	C("JESI ON.", CMD_ON),
	C("JESI ON?", CMD_ON),
	C("JESI-ON", CMD_ON),
	C("JESI_ON", CMD_ON),
	C("JESION", CMD_ON),
	C("jesion", CMD_ON),
	C("JESI\tON\n", CMD_ON),
	C("JESI\r\nON", CMD_ON),
	C("\xe2\x80\x9cJESI ON\xe2\x80\x9d", CMD_ON), /* “JESI ON” */
	C("\"JESI ON\"", CMD_ON),
	C("'JESI ON'", CMD_ON),
	C("\xc2\xabJESI ON\xc2\xbb", CMD_ON), /* «JESI ON» */
	C("\xe2\x80\x98JESI ON\xe2\x80\x99", CMD_ON), /* ‘JESI ON’ */
	C("JESI ON \xf0\x9f\x91\x8d", CMD_ON), /* JESI ON 👍 */
	C("\xf0\x9f\x99\x8f JESI ON \xf0\x9f\x99\x8f", CMD_ON), /* 🙏 JESI ON 🙏 */
	C("JESI\xc2\xa0ON", CMD_ON), /* JESI<NBSP>ON */
	C("JESI\xe3\x80\x80ON", CMD_ON), /* JESI<IDSP>ON */
	C("JESI\xe2\x80\x89ON", CMD_ON), /* JESI<THINSP>ON */
	C("JESI\xe2\x80\xafON", CMD_ON), /* JESI<NNBSP>ON */
	C("JESI\xe2\x80\xa8ON", CMD_ON), /* JESI<LS>ON */
	C("\xef\xbc\xaa\xef\xbc\xa5\xef\xbc\xb3\xef\xbc\xa9\xe3\x80\x80\xef\xbc\xaf\xef\xbc\xae", CMD_ON), /* ＪＥＳＩ<IDSP>ＯＮ */
	C("\xef\xbc\xaa\xef\xbc\xa5\xef\xbc\xb3\xef\xbc\xa9 \xef\xbc\xaf\xef\xbc\xae", CMD_ON), /* ＪＥＳＩ ＯＮ */
	C("JESI \xef\xbc\xaf\xef\xbd\x8e", CMD_ON), /* JESI Ｏｎ */
	C("\xf0\x9d\x90\x89\xf0\x9d\x90\x84\xf0\x9d\x90\x92\xf0\x9d\x90\x88 \xf0\x9d\x90\x8e\xf0\x9d\x90\x8d", CMD_ON), /* 𝐉𝐄𝐒𝐈 𝐎𝐍 */
	C("JESI \xe2\x93\x84\xe2\x93\x83", CMD_ON), /* JESI ⓄⓃ */
	C("JE\xe2\x80\x8bSI ON", CMD_ON), /* JE<ZWSP>SI ON */
	C("JESI\xe2\x80\x8bON", CMD_ON), /* JESI<ZWSP>ON */
	C("\xef\xbb\xbfJESI ON", CMD_ON), /* <BOM>JESI ON */
	C("JE\xc2\xadSI ON", CMD_ON), /* JE<SHY>SI ON */
	C("JESI O\xe2\x80\x8dN", CMD_ON), /* JESI O<ZWJ>N */
	C("J\xe2\x80\x8c" "ESI ON", CMD_ON), /* J<ZWNJ>ESI ON */
	C("\xe2\x80\xaeJESI ON", CMD_ON), /* <RLO>JESI ON */
	C("JESI ON\xef\xb8\x8f", CMD_ON), /* JESI ON<VS16> */
	C("JESI O\xcc\x81N", CMD_ON), /* JESI O<COMB-ACUTE>N */
	C("J\xc3\x89SI ON", CMD_ON), /* JÉSI ON */
	C("Jes\xc3\xac on", CMD_ON), /* Jesì on */
	C("JESI ON \xe2\x9c\x85", CMD_ON), /* JESI ON ✅ */
	C("JESI ON \xf0\x9f\x87\xae\xf0\x9f\x87\xb9", CMD_ON), /* JESI ON 🇮🇹 */
	C("JESI ON \xf0\x9f\x91\x8d\xf0\x9f\x8f\xbb", CMD_ON), /* JESI ON 👍🏻 */
	C("Jesi on \xf0\x9f\x98\x80\xf0\x9f\x98\x80\xf0\x9f\x98\x80", CMD_ON), /* Jesi on 😀😀😀 */
	C("JESI ON \xf0\x9f\x98\x8a\xe2\x9d\xa4\xef\xb8\x8f", CMD_ON), /* JESI ON 😊❤<VS16> */
	C("JESI\xe2\x80\x94ON", CMD_ON), /* JESI—ON */
	C("JESI\xe2\x80\x93ON", CMD_ON), /* JESI–ON */
	C("JESI/ON", CMD_ON),
	C("JESI.ON", CMD_ON),
	C("JESI: ON", CMD_ON),
	C("JESI ON\xe2\x80\xa6", CMD_ON), /* JESI ON… */
	C("#JESION", CMD_ON),
	C("@JESI ON", CMD_ON),
	C("*JESI ON*", CMD_ON),
	C("JESI\x00ON", CMD_ON),
	C("JESI ON\x00", CMD_ON),
	C("JESI SI", CMD_ON),
	C("JESI S\xc3\x8c", CMD_ON), /* JESI SÌ */
	C("jesi s\xc3\xac", CMD_ON), /* jesi sì */
	C("JESI S\xc3\x8d", CMD_ON), /* JESI SÍ */
	C("Jesi, s\xc3\xac grazie", CMD_ON), /* Jesi, sì grazie */
	C("JESISI", CMD_ON),
	C("JESI ISCRIVIMI", CMD_ON),
	C("JESI iscrivermi", CMD_ON),
	C("Jesi iscrivi", CMD_ON),
	C("JESI START", CMD_ON),
	C("JESI ATTIVA", CMD_ON),
	C("JESI attivami", CMD_ON),
	C("JESI SUBSCRIBE", CMD_ON),
	C("JESI YES", CMD_ON),
	C("JESI REGISTRAMI", CMD_ON),
	C("jesi start please", CMD_ON),
	C("ON JESI", CMD_ON),
	C("JESI ON per favore", CMD_ON),
	C("JESI ON grazie", CMD_ON),
	C("Buongiorno, JESI ON", CMD_ON),
	C("Buongiorno vorrei iscrivermi al servizio JESI ON grazie", CMD_ON),
	C("JESI ON grazie mille \xf0\x9f\x98\x8a", CMD_ON), /* JESI ON grazie mille 😊 */
	C("Ciao! JESI ON x favore", CMD_ON),
	C("JESI ON ok", CMD_ON),
	C("JE SI ON", CMD_ON),
	C("J E S I ON", CMD_ON),
	C("JESI ON ON", CMD_ON),
	C("JESI JESI ON", CMD_ON),
	C("JESI ON HELP", CMD_ON),
	/* opt-out: liberal, with or without the keyword */
	C("JESI OFF", CMD_OFF),
	C("jesi off", CMD_OFF),
	C("OFF", CMD_OFF),
	C("off", CMD_OFF),
	C("STOP", CMD_OFF),
	C("stop", CMD_OFF),
	C("Stop.", CMD_OFF),
	C("STOP!!!", CMD_OFF),
	C("BASTA", CMD_OFF),
	C("Basta!", CMD_OFF),
	C("CANCELLAMI", CMD_OFF),
	C("cancellami per favore", CMD_OFF),
	C("CANCELLA", CMD_OFF),
	C("DISISCRIVIMI", CMD_OFF),
	C("disiscrivi", CMD_OFF),
	C("Disiscrivermi", CMD_OFF),
	C("UNSUBSCRIBE", CMD_OFF),
	C("ESCI", CMD_OFF),
	C("FINE", CMD_OFF),
	C("Fine", CMD_OFF),
	C("DISDICI", CMD_OFF),
	C("STOPALL", CMD_OFF),
	C("unsub", CMD_OFF),
	C("quit", CMD_OFF),
	C("cancellazione", CMD_OFF),
	C("JESI disiscrizione", CMD_OFF),
	C("JESI STOP", CMD_OFF),
	C("JESIOFF", CMD_OFF),
	C("JESI-OFF", CMD_OFF),
	C("jesistop", CMD_OFF),
	C("\xe2\x80\x9cJESI OFF\xe2\x80\x9d", CMD_OFF), /* “JESI OFF” */
	C("\xef\xbc\xaa\xef\xbc\xa5\xef\xbc\xb3\xef\xbc\xa9\xe3\x80\x80\xef\xbc\xaf\xef\xbc\xa6\xef\xbc\xa6", CMD_OFF), /* ＪＥＳＩ<IDSP>ＯＦＦ */
	C("JESI OF\xe2\x80\x8b" "F", CMD_OFF), /* JESI OF<ZWSP>F */
	C("JESI OFF \xf0\x9f\x98\xa1", CMD_OFF), /* JESI OFF 😡 */
	C("OFF JESI", CMD_OFF),
	C("stop stop stop", CMD_OFF),
	C("Cancellami dalla lista, grazie", CMD_OFF),
	C("Basta messaggi", CMD_OFF),
	C("Stop notifiche per favore", CMD_OFF),
	C("Buongiorno, vorrei cancellarmi dal servizio. Grazie", CMD_OFF),
	C("disattiva notifiche", CMD_OFF),
	C("annulla iscrizione", CMD_OFF),
	C("cancella l'iscrizione", CMD_OFF),
	C("cancella l\xe2\x80\x99iscrizione", CMD_OFF), /* cancella l’iscrizione */
	C("rimuovimi dalla lista", CMD_OFF),
	C("toglimi", CMD_OFF),
	C("OFF per favore grazie", CMD_OFF),
	C("e basta", CMD_OFF),
	C("unsubscribe me please", CMD_OFF),
	C("ON OFF", CMD_OFF),
	C("s\xc3\xac basta", CMD_OFF), /* sì basta */
	C("STOP HELP", CMD_OFF),
	C("STOP\xc2\xa0\xc2\xa0", CMD_OFF), /* STOP<NBSP><NBSP> */
	C("\xf0\x9f\x9b\x91 STOP \xf0\x9f\x9b\x91", CMD_OFF), /* 🛑 STOP 🛑 */
	/* both an on- and an off-verb: change nothing */
	C("JESI ON OFF", CMD_CONFLICT),
	C("JESI ON JESI OFF", CMD_CONFLICT),
	C("JESI ON / JESI OFF", CMD_CONFLICT),
	C("JESI SI STOP", CMD_CONFLICT),
	C("JESI ATTIVA DISATTIVA", CMD_CONFLICT),
	C("JESION JESIOFF", CMD_CONFLICT),
	C("STOP JESI START", CMD_CONFLICT),
	C("JESI ISCRIVIMI CANCELLAMI", CMD_CONFLICT),
	/* help */
	C("HELP", CMD_HELP),
	C("help", CMD_HELP),
	C("AIUTO", CMD_HELP),
	C("Aiuto!", CMD_HELP),
	C("INFO", CMD_HELP),
	C("info?", CMD_HELP),
	C("JESI HELP", CMD_HELP),
	C("JESI INFO", CMD_HELP),
	C("JESIHELP", CMD_HELP),
	C("informazioni per favore", CMD_HELP),
	C("istruzioni", CMD_HELP),
	C("comandi", CMD_HELP),
	C("JESI", CMD_HELP),
	C("Jesi!", CMD_HELP),
	C("ciao jesi", CMD_HELP),
	C("\xe2\x80\x9cJESI\xe2\x80\x9d", CMD_HELP), /* “JESI” */
	C("ON HELP", CMD_HELP),
	C("JE SI", CMD_HELP),
	/* not a command */
	C("", CMD_NONE),
	C("   ", CMD_NONE),
	C("!!!", CMD_NONE),
	C("\xf0\x9f\x91\x8d", CMD_NONE), /* 👍 */
	C("\xf0\x9f\x9b\x91", CMD_NONE), /* 🛑 */
	C("\xe2\x80\x8b\xe2\x80\x8b", CMD_NONE), /* <ZWSP><ZWSP> */
	C("ON", CMD_NONE),
	C("on", CMD_NONE),
	C("START", CMD_NONE),
	C("SI", CMD_NONE),
	C("s\xc3\xac", CMD_NONE), /* sì */
	C("ISCRIVIMI", CMD_NONE),
	C("ATTIVA", CMD_NONE),
	C("Si grazie", CMD_NONE),
	C("ok", CMD_NONE),
	C("Ok grazie", CMD_NONE),
	C("Grazie!", CMD_NONE),
	C("Buongiorno", CMD_NONE),
	C("e", CMD_NONE),
	C("non riesco a fermare l'auto, stop al traffico?", CMD_NONE),
	C("Stop al traffico in via Roma", CMD_NONE),
	C("non cancellarmi", CMD_NONE),
	C("Non voglio pi\xc3\xb9 messaggi", CMD_NONE), /* Non voglio più messaggi */
	C("Basta cos\xc3\xac", CMD_NONE), /* Basta così */
	C("Fine settimana a Jesi: eventi", CMD_NONE),
	C("Sono di Jesi", CMD_NONE),
	C("Quando finisce il mercato?", CMD_NONE),
	C("info sulla raccolta rifiuti", CMD_NONE),
	C("Ciao, come stai?", CMD_NONE),
	C("Jesi off-road", CMD_NONE),
	C("JESI ON domani", CMD_NONE),
	C("JESI ONN", CMD_NONE),
	C("JESI 0N", CMD_NONE),
	C("JESI ON 2", CMD_NONE),
	C("STOP2", CMD_NONE),
	C("stopp", CMD_NONE),
	C("JESINO", CMD_NONE),
	C("Jesina", CMD_NONE),
	C("onjesi", CMD_NONE),
	C("JE", CMD_NONE),
	C("JE ON", CMD_NONE),
	C("ANCONA ON", CMD_NONE),
	C("JESI \xd0\x9e\xd0\x9d", CMD_NONE), /* JESI ОН */
	C("https://jesi.it/on", CMD_NONE),
	C("JESI ON https://example.com", CMD_NONE),
	C("JESI ON JESI ON JESI ON JESI ON JESI ON JESI ON", CMD_NONE),
	C("\xf0\x9f\x85\xb0\xf0\x9f\x85\xbe", CMD_NONE), /* 🅰🅾 */
	/* invalid UTF-8: an error, never a crash */
	E("\xff", BND_E_CMD_UTF8),
	E("\xc3", BND_E_CMD_UTF8),
	E("JESI ON \xc0\xaf", BND_E_CMD_UTF8),
	E("JESI \xed\xa0\x80", BND_E_CMD_UTF8),
	E("JESI ON \xe2\x80", BND_E_CMD_UTF8),
	E("\xf4\x90\x80\x80", BND_E_CMD_UTF8),
	E("hello world \xff", BND_E_CMD_UTF8),
	E("non riesco\xff a capire", BND_E_CMD_UTF8),
	E("STOP \x80", BND_E_CMD_UTF8),
	E("\xe0\x80\x80JESI ON", BND_E_CMD_UTF8),
	E("JESI\xf8\x88\x80\x80\x80ON", BND_E_CMD_UTF8),
};

#undef C
#undef E

#endif
