"""Human text of system notices, in the visitor's language where we have it (else English).

Kept as data in one place so translators can add languages without touching the lifecycle code.
"""

from __future__ import annotations

NOTICES: dict[str, dict[str, str]] = {
    "nb": {
        "assigned": "{name} er her og chatter med deg.",
        "transferred": "Samtalen blir sendt videre til en annen rådgiver. Vent litt.",
        "requeued": "Rådgiveren mistet forbindelsen. Du står fortsatt på samme plass i køen.",
        "adviser_away": "Rådgiveren har mistet forbindelsen og prøver å komme tilbake.",
        "adviser_back": "Rådgiveren er tilbake.",
        "visitor_away": "Forbindelsen til deg ble brutt.",
        "visitor_back": "Du er tilbake i samtalen.",
        "visitor_left": "Du avsluttet samtalen.",
        "urgent_help": "Er du i fare nå? Ring politiet på 112. Alarmtelefonen for barn og unge: 116 111.",
        "closed": "Samtalen er avsluttet. Takk for at du tok kontakt.",
        "visitor_timeout": "Samtalen ble avsluttet fordi forbindelsen var borte for lenge.",
    },
    "en": {
        "assigned": "{name} is here and will chat with you.",
        "transferred": "Your conversation is being passed to another adviser. Please wait.",
        "requeued": "The adviser lost their connection. You keep your place in the queue.",
        "adviser_away": "The adviser lost their connection and is trying to come back.",
        "adviser_back": "The adviser is back.",
        "visitor_away": "Your connection was lost.",
        "visitor_back": "You are back in the conversation.",
        "visitor_left": "You ended the conversation.",
        "urgent_help": "Are you in danger right now? Call the police on 112. Child and youth helpline: 116 111.",
        "closed": "The conversation has ended. Thank you for getting in touch.",
        "visitor_timeout": "The conversation ended because the connection was gone for too long.",
    },
}

# First drafts by the developers, to be reviewed by professional translators; any
# language or notice missing here falls back to English.
NOTICES.update(
    {
        "ar": {
            "assigned": "{name} هنا وسيتحدث معك.",
            "transferred": "يتم تحويل محادثتك إلى مستشار آخر. يرجى الانتظار.",
            "requeued": "فقد المستشار الاتصال. ما زلت في مكانك في قائمة الانتظار.",
            "adviser_away": "فقد المستشار الاتصال ويحاول العودة.",
            "adviser_back": "عاد المستشار.",
            "visitor_away": "انقطع اتصالك.",
            "visitor_back": "لقد عدت إلى المحادثة.",
            "visitor_left": "لقد أنهيت المحادثة.",
            "urgent_help": "هل أنت في خطر الآن؟ اتصل بالشرطة على 112. خط المساعدة للأطفال والشباب: 116 111.",
            "closed": "انتهت المحادثة. شكرًا لتواصلك معنا.",
            "visitor_timeout": "انتهت المحادثة لأن الاتصال انقطع لمدة طويلة.",
        },
        "uk": {
            "assigned": "{name} тут і спілкуватиметься з вами.",
            "transferred": "Вашу розмову передають іншому консультанту. Будь ласка, зачекайте.",
            "requeued": "Консультант втратив з'єднання. Ви зберігаєте своє місце в черзі.",
            "adviser_away": "Консультант втратив з'єднання і намагається повернутися.",
            "adviser_back": "Консультант повернувся.",
            "visitor_away": "Ваше з'єднання перервалося.",
            "visitor_back": "Ви знову в розмові.",
            "visitor_left": "Ви завершили розмову.",
            "urgent_help": "Ви зараз у небезпеці? Телефонуйте в поліцію: 112. Телефон довіри для дітей і молоді: 116 111.",
            "closed": "Розмову завершено. Дякуємо, що звернулися.",
            "visitor_timeout": "Розмову завершено, бо з'єднання було відсутнє занадто довго.",
        },
        "ru": {
            "assigned": "{name} здесь и будет общаться с вами.",
            "transferred": "Ваш разговор передают другому консультанту. Пожалуйста, подождите.",
            "requeued": "Консультант потерял соединение. Вы сохраняете своё место в очереди.",
            "adviser_away": "Консультант потерял соединение и пытается вернуться.",
            "adviser_back": "Консультант вернулся.",
            "visitor_away": "Ваше соединение прервалось.",
            "visitor_back": "Вы снова в разговоре.",
            "visitor_left": "Вы завершили разговор.",
            "urgent_help": "Вы сейчас в опасности? Звоните в полицию: 112. Телефон доверия для детей и молодёжи: 116 111.",
            "closed": "Разговор завершён. Спасибо, что обратились.",
            "visitor_timeout": "Разговор завершён, так как соединения не было слишком долго.",
        },
        "pl": {
            "assigned": "{name} jest tutaj i porozmawia z tobą.",
            "transferred": "Twoja rozmowa jest przekazywana innemu doradcy. Proszę czekać.",
            "requeued": "Doradca stracił połączenie. Zachowujesz swoje miejsce w kolejce.",
            "adviser_away": "Doradca stracił połączenie i próbuje wrócić.",
            "adviser_back": "Doradca wrócił.",
            "visitor_away": "Twoje połączenie zostało przerwane.",
            "visitor_back": "Wróciłeś do rozmowy.",
            "visitor_left": "Zakończyłeś rozmowę.",
            "urgent_help": "Czy jesteś teraz w niebezpieczeństwie? Zadzwoń na policję: 112. Telefon zaufania dla dzieci i młodzieży: 116 111.",
            "closed": "Rozmowa została zakończona. Dziękujemy za kontakt.",
            "visitor_timeout": "Rozmowa została zakończona, ponieważ połączenia nie było zbyt długo.",
        },
        "tr": {
            "assigned": "{name} burada ve sizinle sohbet edecek.",
            "transferred": "Görüşmeniz başka bir danışmana aktarılıyor. Lütfen bekleyin.",
            "requeued": "Danışmanın bağlantısı koptu. Sıradaki yeriniz korunuyor.",
            "adviser_away": "Danışmanın bağlantısı koptu, geri dönmeye çalışıyor.",
            "adviser_back": "Danışman geri döndü.",
            "visitor_away": "Bağlantınız koptu.",
            "visitor_back": "Görüşmeye geri döndünüz.",
            "visitor_left": "Görüşmeyi sonlandırdınız.",
            "urgent_help": "Şu anda tehlikede misiniz? Polisi 112'den arayın. Çocuk ve gençlik yardım hattı: 116 111.",
            "closed": "Görüşme sona erdi. Bize ulaştığınız için teşekkürler.",
            "visitor_timeout": "Bağlantı çok uzun süre kesik kaldığı için görüşme sona erdi.",
        },
        "fa": {
            "assigned": "{name} اینجاست و با شما گفتگو می‌کند.",
            "transferred": "گفتگوی شما به مشاور دیگری منتقل می‌شود. لطفاً صبر کنید.",
            "requeued": "اتصال مشاور قطع شد. جای شما در صف محفوظ است.",
            "adviser_away": "اتصال مشاور قطع شد و در تلاش برای بازگشت است.",
            "adviser_back": "مشاور برگشت.",
            "visitor_away": "اتصال شما قطع شد.",
            "visitor_back": "به گفتگو برگشتید.",
            "visitor_left": "شما گفتگو را پایان دادید.",
            "urgent_help": "آیا الان در خطر هستید؟ با پلیس به شماره 112 تماس بگیرید. خط کمک کودکان و جوانان: 116 111.",
            "closed": "گفتگو به پایان رسید. از تماس شما سپاسگزاریم.",
            "visitor_timeout": "گفتگو به پایان رسید چون اتصال برای مدت طولانی قطع بود.",
        },
    }
)


def notice(event: str, language: str, **values: str) -> str:
    table = NOTICES.get(language, NOTICES["en"])
    return table.get(event, NOTICES["en"][event]).format(**values)
